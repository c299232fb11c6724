// The verification page: camera (or a chosen photo) -> one frame on a canvas
// -> upload with the page's web token -> poll the outcome -> show it ->
// go back to redirect_url (with process_id) when the client gave one.
"use strict";
(function () {
  const token = new URLSearchParams(window.location.search).get("token") || "";
  const byId = (id) => document.getElementById(id);
  const setStatus = (text) => { byId("status").textContent = text; };
  const POLL_INTERVAL_MS = 500;
  const POLL_ATTEMPTS = 360;
  const REDIRECT_DELAY_MS = 2500;
  // Larger camera frames are scaled down to this many pixels on their long side.
  const MAX_PHOTO_SIDE = 1600;
  let stream = null;
  let busy = false;

  const REASONS = {
    similarity_threshold_not_passed: "the face does not match the enrolled face.",
    no_face_detected: "no face was found in the photo.",
    face_in_blocklist: "this face cannot be verified.",
    file_format_not_supported: "the photo could not be read (use JPEG, PNG or WebP).",
    empty_input_file: "the photo was empty.",
    validation_expired: "the verification expired.",
    enrollment_not_found: "there is no enrolled face to compare with.",
    internal_error: "the service had a problem; please try again later."
  };

  const CAMERA_ERRORS = {
    NotFoundError: "No camera was found",
    NotAllowedError: "The camera was not allowed",
    NotReadableError: "The camera is in use by another application",
    OverconstrainedError: "The camera cannot take a suitable picture"
  };

  function disableInputs() {
    busy = true;
    byId("start-camera").disabled = true;
    byId("capture").disabled = true;
    byId("file").disabled = true;
  }

  // Shows the photo being checked in place of the camera, and hides what
  // can no longer be used.
  function showPhoto(blob) {
    const preview = byId("preview");
    preview.src = URL.createObjectURL(blob);
    preview.hidden = false;
    byId("video").hidden = true;
    byId("frame").hidden = false;
    byId("start-camera").hidden = true;
    byId("capture").hidden = true;
    byId("fallback").hidden = true;
  }

  function stopCamera() {
    if (stream) {
      stream.getTracks().forEach((track) => track.stop());
      stream = null;
    }
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setStatus("This browser cannot use a camera on this page; choose a photo below instead.");
      return;
    }
    try {
      // resizeMode "none": the camera's own frame, never cropped to fit
      // the ideal size (a portrait camera would lose the face).
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 720 }, resizeMode: "none" },
        audio: false
      });
    } catch (error) {
      setStatus((CAMERA_ERRORS[error.name] || "The camera is not available") + "; choose a photo below instead.");
      return;
    }
    const video = byId("video");
    video.srcObject = stream;
    video.hidden = false;
    byId("frame").hidden = false;
    try { await video.play(); } catch (error) { /* autoplay is muted: play() may be refused, the stream still shows */ }
    byId("start-camera").hidden = true;
    byId("capture").hidden = false;
    setStatus("Look at the camera, then press Take photo.");
  }

  function capture() {
    const video = byId("video");
    if (busy) return;
    if (!video.videoWidth || !video.videoHeight) {
      setStatus("The camera has no picture yet; try again in a moment.");
      return;
    }
    const canvas = byId("canvas");
    const scale = Math.min(1, MAX_PHOTO_SIDE / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    disableInputs();
    canvas.toBlob((blob) => {
      stopCamera();
      if (blob) {
        showPhoto(blob);
        upload(blob);
      } else {
        fail("The photo could not be taken; reload the page to try again.");
      }
    }, "image/jpeg", 0.92);
  }

  function chooseFile(event) {
    const file = event.target.files && event.target.files[0];
    if (!file || busy) return;
    disableInputs();
    stopCamera();
    showPhoto(file);
    upload(file);
  }

  async function upload(blob) {
    setStatus("Sending your photo…");
    let response;
    try {
      response = await fetch("v1/web/processes", {
        method: "POST",
        headers: {
          "Authorization": "Bearer " + token,
          "Content-Type": blob.type || "application/octet-stream"
        },
        body: blob
      });
    } catch (error) {
      fail("The photo could not be sent; check your connection and reload the page.");
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      fail(body.message ? "The photo was refused: " + body.message + "." : "The photo was refused (" + response.status + ").");
      return;
    }
    setStatus("Comparing your photo with your enrolled face…");
    poll(body.process_id);
  }

  async function poll(processId) {
    const url = "v1/web/processes/" + encodeURIComponent(processId);
    for (let attempt = 0; attempt < POLL_ATTEMPTS; attempt += 1) {
      try {
        const response = await fetch(url, { headers: { "Authorization": "Bearer " + token } });
        const body = await response.json().catch(() => ({}));
        if (!response.ok) {
          fail(body.message || "The result could not be read (" + response.status + ").");
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
    fail("The verification is taking too long; please try again later.");
  }

  function finish(body) {
    const success = body.status === "success";
    const result = byId("result");
    result.hidden = false;
    result.className = success ? "success" : "failure";
    result.textContent = success
      ? "Verified: your face matches your enrollment."
      : "Not verified: " + (REASONS[body.declined_reason] || "the verification failed.");
    result.scrollIntoView({ block: "nearest" });
    document.body.dataset.result = body.status;
    document.body.dataset.processId = body.process_id || "";
    if (body.redirect_url) {
      setStatus("Taking you back…");
      setTimeout(() => window.location.assign(body.redirect_url), REDIRECT_DELAY_MS);
    } else {
      setStatus("You can close this page.");
    }
  }

  function fail(message) {
    stopCamera();
    const result = byId("result");
    result.hidden = false;
    result.className = "failure";
    result.textContent = message;
    result.scrollIntoView({ block: "nearest" });
    document.body.dataset.result = "error";
    setStatus("");
  }

  byId("start-camera").addEventListener("click", startCamera);
  byId("capture").addEventListener("click", capture);
  byId("file").addEventListener("change", chooseFile);
  if (!token) {
    disableInputs();
    fail("This verification link is incomplete.");
  }
})();
