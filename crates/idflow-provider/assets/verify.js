// The verification page, one state at a time (body[data-state]):
//   consent -> (declined) | capture -> checking -> result
// capture: the camera (mirrored preview under an oval) or a chosen photo;
// the photo (never mirrored) goes up with the page's web token; the outcome
// is polled. An unusable photo (no face, unreadable, empty, too large) comes
// back as a retry; a finished check goes back to redirect_url (with
// process_id) when the client gave one. Every word comes from the page's
// message table (the JSON block #messages, in the page's language).
"use strict";
(function () {
  const token = new URLSearchParams(window.location.search).get("token") || "";
  const byId = (id) => document.getElementById(id);
  const T = JSON.parse(byId("messages").textContent);
  const fill = (text, values) =>
    text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  const POLL_INTERVAL_MS = 500;
  const POLL_ATTEMPTS = 360;
  const REDIRECT_DELAY_MS = 2500;
  // Larger camera frames are scaled down to this many pixels on their long side.
  const MAX_PHOTO_SIDE = 1600;
  const MAX_UPLOAD_BYTES = Number(document.body.dataset.maxUploadBytes) || 10 * 1024 * 1024;
  const ACCEPTED_TYPES = ["image/jpeg", "image/png", "image/webp"];
  const STEP = { consent: 1, declined: 1, capture: 2, checking: 2, result: 3 };
  const CAMERA_ERRORS = {
    NotFoundError: "camera_not_found",
    OverconstrainedError: "camera_not_found",
    NotAllowedError: "camera_not_allowed",
    SecurityError: "camera_not_allowed",
    NotReadableError: "camera_in_use"
  };

  let stream = null;
  let busy = false;
  // The process the first photo started: later photos are added to it.
  let processId = null;

  // Shows one state, and moves the focus to its heading (so that a screen
  // reader reads what changed) unless it is the first one.
  // (A retry is back at step 2: the photo.)
  function show(state, focus, step) {
    for (const section of document.querySelectorAll("main > .state")) {
      section.hidden = section.id !== state;
    }
    document.body.dataset.state = state;
    byId("step").textContent = fill(T.step_of, { n: step || STEP[state] });
    if (focus !== false) {
      const heading = byId(state).querySelector("h1");
      if (heading) heading.focus();
    }
  }

  function setNote(text) { byId("camera-note").textContent = text || ""; }

  function stopCamera() {
    if (stream) {
      stream.getTracks().forEach((track) => track.stop());
      stream = null;
    }
    byId("video").srcObject = null;
  }

  function withoutCamera(key) {
    stopCamera();
    byId("viewfinder").hidden = true;
    byId("shutter").hidden = true;
    setNote(T[key]);
  }

  // After consent only: the camera is opened, or the user is told why not
  // and chooses a photo instead.
  async function startCapture() {
    busy = false;
    show("capture");
    byId("file").value = "";
    byId("viewfinder").hidden = true;
    byId("shutter").hidden = true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      withoutCamera("camera_unsupported");
      return;
    }
    setNote(T.camera_starting);
    try {
      // resizeMode "none": the camera's own frame, never cropped to fit
      // the ideal size (a portrait camera would lose the face).
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 720 }, resizeMode: "none" },
        audio: false
      });
    } catch (error) {
      withoutCamera(CAMERA_ERRORS[error.name] || "camera_unavailable");
      return;
    }
    if (document.body.dataset.state !== "capture") {
      stopCamera();
      return;
    }
    const video = byId("video");
    video.srcObject = stream;
    byId("viewfinder").hidden = false;
    try { await video.play(); } catch (error) { /* muted autoplay: the stream shows anyway */ }
    byId("shutter").hidden = false;
    setNote(T.camera_ready);
  }

  // The camera's frame as it is (the preview is mirrored by CSS only).
  function takePhoto() {
    const video = byId("video");
    if (busy) return;
    if (!video.videoWidth || !video.videoHeight) {
      setNote(T.camera_no_picture);
      return;
    }
    busy = true;
    const canvas = byId("canvas");
    const scale = Math.min(1, MAX_PHOTO_SIDE / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((blob) => {
      stopCamera();
      if (blob) {
        send(blob);
      } else {
        showError(T.error_refused, { n: "canvas" }, true);
      }
    }, "image/jpeg", 0.92);
  }

  function chooseFile(event) {
    const file = event.target.files && event.target.files[0];
    if (!file || busy) return;
    busy = true;
    stopCamera();
    send(file);
  }

  // What is wrong with a photo before it is sent, if anything (a reason).
  function refusedLocally(blob) {
    if (blob.size === 0) return "empty_input_file";
    if (blob.size > MAX_UPLOAD_BYTES) return "too_large";
    if (blob.type && !ACCEPTED_TYPES.includes(blob.type)) return "file_format_not_supported";
    return null;
  }

  async function send(blob) {
    const local = refusedLocally(blob);
    if (local) {
      showRetry(local, null);
      return;
    }
    const photo = byId("photo");
    if (photo.src) URL.revokeObjectURL(photo.src);
    photo.src = URL.createObjectURL(blob);
    show("checking");
    byId("progress").textContent = T.sending;
    const url = processId
      ? "v1/web/processes/" + encodeURIComponent(processId) + "/photos"
      : "v1/web/processes";
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: {
          "Authorization": "Bearer " + token,
          "Content-Type": blob.type || "application/octet-stream"
        },
        body: blob
      });
    } catch (error) {
      showError(T.error_network, {}, true);
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      refused(response.status);
      return;
    }
    processId = body.process_id;
    byId("progress").textContent = T.checking;
    poll();
  }

  // A refused upload: a photo the provider will not take is a retry; a link
  // that no longer works is the end.
  function refused(status) {
    if (status === 413) showRetry("too_large", null);
    else if (status === 415) showRetry("file_format_not_supported", null);
    else if (status === 401) showError(T.link_invalid_text, {}, false);
    else if (status === 410) showError(T.link_expired_text, {}, false);
    else if (status === 409) showError(T.link_used_text, {}, false);
    else showError(T.error_refused, { n: status }, false);
  }

  async function poll() {
    const url = "v1/web/processes/" + encodeURIComponent(processId);
    for (let attempt = 0; attempt < POLL_ATTEMPTS; attempt += 1) {
      try {
        const response = await fetch(url, { headers: { "Authorization": "Bearer " + token } });
        const body = await response.json().catch(() => ({}));
        if (!response.ok) {
          showError(T.error_refused, { n: response.status }, false);
          return;
        }
        if (body.retry) {
          showRetry(body.declined_reason, body.photos_left);
          return;
        }
        if (body.status && body.status !== "pending") {
          finish(body);
          return;
        }
      } catch (error) {
        // A network hiccup: keep polling.
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
    showError(T.error_too_slow, {}, false);
  }

  function reasonText(reason) {
    return T["reason_" + reason] || T.reason_unknown;
  }

  // The result state in one of its kinds: success, failure, retry, error.
  function showResult(kind, heading, text, note) {
    busy = false;
    stopCamera();
    byId("result-badge").className = "badge " + kind;
    byId("result-heading").textContent = heading;
    byId("result-text").textContent = text;
    byId("result-note").textContent = note || "";
    byId("retry").hidden = !(kind === "retry" || kind === "error-retry");
    byId("continue").hidden = true;
    document.body.dataset.result = kind === "error-retry" ? "error" : kind;
    show("result", true, kind === "retry" ? STEP.capture : STEP.result);
  }

  function showRetry(reason, photosLeft) {
    const note = photosLeft ? fill(T.photos_left, { n: photosLeft }) : "";
    const text = fill(reasonText(reason), { mb: Math.floor(MAX_UPLOAD_BYTES / (1024 * 1024)) });
    showResult("retry", T.retry_heading, text, note);
    document.body.dataset.reason = reason;
  }

  function showError(message, values, canRetry) {
    showResult(canRetry ? "error-retry" : "error", T.error_heading, fill(message, values), "");
    byId("result-badge").className = "badge error";
  }

  function finish(body) {
    const success = body.status === "success";
    showResult(
      success ? "success" : "failure",
      success ? T.success_heading : T.failure_heading,
      success ? T.success_text : reasonText(body.declined_reason),
      ""
    );
    document.body.dataset.processId = body.process_id || "";
    if (body.declined_reason) document.body.dataset.reason = body.declined_reason;
    if (body.redirect_url) {
      const link = byId("continue");
      link.href = body.redirect_url;
      link.hidden = false;
      byId("result-note").textContent = T.redirecting;
      setTimeout(() => window.location.assign(body.redirect_url), REDIRECT_DELAY_MS);
    } else {
      byId("result-note").textContent = T.close_page;
    }
  }

  byId("accept").addEventListener("click", startCapture);
  byId("decline").addEventListener("click", () => {
    stopCamera();
    show("declined");
    document.body.dataset.result = "declined";
  });
  byId("restart").addEventListener("click", () => {
    document.body.dataset.result = "";
    show("consent");
  });
  byId("shutter").addEventListener("click", takePhoto);
  byId("file").addEventListener("change", chooseFile);
  byId("retry").addEventListener("click", () => {
    document.body.dataset.result = "";
    delete document.body.dataset.reason;
    startCapture();
  });
  show("consent", false);
})();
