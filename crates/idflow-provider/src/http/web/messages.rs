//! Every word of the verification page and of its link-error pages, one
//! table per language. The page's HTML names a message as `{{field}}`; its
//! script reads the same table from a JSON block in the page. A field added
//! here must be written in every language (the compiler sees to it).
//!
//! Parameters are written `{name}` inside a message: `{client}` (the name
//! of the client that asked for the check, filled in by the server), `{n}`
//! and `{mb}` (filled in by the script).

use serde::Serialize;

use super::lang::Lang;

/// The page's words in one language.
#[derive(Debug, Serialize)]
pub(crate) struct Messages {
    // The frame of every page.
    pub(crate) page_title: &'static str,
    pub(crate) language_label: &'static str,
    pub(crate) secure_note: &'static str,
    pub(crate) step_of: &'static str,

    // 1. Consent.
    pub(crate) consent_heading: &'static str,
    pub(crate) consent_intro: &'static str,
    pub(crate) consent_what_title: &'static str,
    pub(crate) consent_what: &'static str,
    pub(crate) consent_why_title: &'static str,
    pub(crate) consent_why: &'static str,
    pub(crate) consent_who_title: &'static str,
    pub(crate) consent_who: &'static str,
    pub(crate) consent_keep_title: &'static str,
    pub(crate) consent_keep: &'static str,
    pub(crate) consent_question: &'static str,
    pub(crate) consent_accept: &'static str,
    pub(crate) consent_decline: &'static str,

    // Declined.
    pub(crate) declined_heading: &'static str,
    pub(crate) declined_text: &'static str,
    pub(crate) declined_restart: &'static str,

    // 2. Capture.
    pub(crate) capture_heading: &'static str,
    pub(crate) capture_tips: &'static str,
    pub(crate) camera_label: &'static str,
    pub(crate) camera_starting: &'static str,
    pub(crate) camera_ready: &'static str,
    pub(crate) capture_button: &'static str,
    pub(crate) upload_button: &'static str,
    pub(crate) upload_hint: &'static str,
    pub(crate) camera_not_found: &'static str,
    pub(crate) camera_not_allowed: &'static str,
    pub(crate) camera_in_use: &'static str,
    pub(crate) camera_unavailable: &'static str,
    pub(crate) camera_unsupported: &'static str,
    pub(crate) camera_no_picture: &'static str,

    // Checking.
    pub(crate) photo_alt: &'static str,
    pub(crate) checking_heading: &'static str,
    pub(crate) sending: &'static str,
    pub(crate) checking: &'static str,

    // 3. Result.
    pub(crate) success_heading: &'static str,
    pub(crate) success_text: &'static str,
    pub(crate) failure_heading: &'static str,
    pub(crate) retry_heading: &'static str,
    pub(crate) retry_button: &'static str,
    pub(crate) photos_left: &'static str,
    pub(crate) redirecting: &'static str,
    pub(crate) continue_link: &'static str,
    pub(crate) close_page: &'static str,

    // Why a photo or a check failed (the provider's reasons).
    pub(crate) reason_no_face_detected: &'static str,
    pub(crate) reason_file_format_not_supported: &'static str,
    pub(crate) reason_empty_input_file: &'static str,
    pub(crate) reason_too_large: &'static str,
    pub(crate) reason_similarity_threshold_not_passed: &'static str,
    pub(crate) reason_face_in_blocklist: &'static str,
    pub(crate) reason_validation_expired: &'static str,
    pub(crate) reason_enrollment_not_found: &'static str,
    pub(crate) reason_internal_error: &'static str,
    pub(crate) reason_unknown: &'static str,

    // Errors of the page itself.
    pub(crate) error_heading: &'static str,
    pub(crate) error_network: &'static str,
    pub(crate) error_too_slow: &'static str,
    pub(crate) error_refused: &'static str,

    // The link cannot be used (the page is replaced by one of these).
    pub(crate) link_incomplete_title: &'static str,
    pub(crate) link_incomplete_text: &'static str,
    pub(crate) link_invalid_title: &'static str,
    pub(crate) link_invalid_text: &'static str,
    pub(crate) link_expired_title: &'static str,
    pub(crate) link_expired_text: &'static str,
    pub(crate) link_used_title: &'static str,
    pub(crate) link_used_text: &'static str,
    pub(crate) unavailable_title: &'static str,
    pub(crate) unavailable_text: &'static str,
}

impl Messages {
    /// The table of `lang`.
    pub(crate) fn of(lang: Lang) -> &'static Self {
        match lang {
            Lang::Es => &ES,
            Lang::Pt => &PT,
            Lang::En => &EN,
        }
    }
}

const EN: Messages = Messages {
    page_title: "Identity verification",
    language_label: "Language",
    secure_note: "Secure verification",
    step_of: "Step {n} of 3",

    consent_heading: "Verify your identity",
    consent_intro: "{client} asks you to confirm that you are the person who enrolled with them. It takes about a minute.",
    consent_what_title: "What we capture",
    consent_what: "One photo of your face, taken with your camera or chosen from your device.",
    consent_why_title: "Why",
    consent_why: "To compare it with the face you enrolled before and confirm that it is you.",
    consent_who_title: "Who receives the result",
    consent_who: "{client} receives the result (verified or not) and a similarity score. Your photo is not shared with anyone.",
    consent_keep_title: "How long it is kept",
    consent_keep: "Your photo is deleted as soon as it has been compared, usually within seconds. Only the result is kept.",
    consent_question: "Do you agree to have a photo of your face taken for this check?",
    consent_accept: "I agree, continue",
    consent_decline: "No, cancel",

    declined_heading: "Verification cancelled",
    declined_text: "No photo was taken and nothing was sent. You can close this page. If you change your mind, you can start again while this link is valid.",
    declined_restart: "Start again",

    capture_heading: "Take a photo of your face",
    capture_tips: "Find good light, take off sunglasses or a hat, and place your face inside the oval.",
    camera_label: "Camera preview",
    camera_starting: "Opening the camera…",
    camera_ready: "When your face fills the oval, press Take photo.",
    capture_button: "Take photo",
    upload_button: "Choose a photo",
    upload_hint: "Or use a recent photo of your face from your device (JPEG, PNG or WebP).",
    camera_not_found: "No camera was found. Choose a photo of your face instead.",
    camera_not_allowed: "The camera was not allowed. You can allow it in your browser's settings, or choose a photo of your face instead.",
    camera_in_use: "The camera is being used by another app. Close it and try again, or choose a photo of your face instead.",
    camera_unavailable: "The camera could not be opened. Choose a photo of your face instead.",
    camera_unsupported: "This browser cannot open the camera here. Choose a photo of your face instead.",
    camera_no_picture: "The camera has no picture yet. Wait a moment and try again.",

    photo_alt: "The photo being checked",
    checking_heading: "Checking your photo",
    sending: "Sending your photo…",
    checking: "We are comparing it with the face you enrolled. This usually takes a few seconds.",

    success_heading: "You are verified",
    success_text: "Your face matches the face you enrolled.",
    failure_heading: "We could not verify you",
    retry_heading: "Let's try another photo",
    retry_button: "Try again",
    photos_left: "Attempts left: {n}",
    redirecting: "Taking you back…",
    continue_link: "Continue",
    close_page: "You can close this page now.",

    reason_no_face_detected: "We could not find a face in the photo. Face the camera in good light, with your whole face inside the oval.",
    reason_file_format_not_supported: "We could not read this file. Use a photo in JPEG, PNG or WebP format.",
    reason_empty_input_file: "The photo was empty. Take or choose another one.",
    reason_too_large: "The photo is too large. Choose one smaller than {mb} MB.",
    reason_similarity_threshold_not_passed: "The face in the photo does not match the face you enrolled.",
    reason_face_in_blocklist: "This verification cannot be completed. Please contact the company that sent you this link.",
    reason_validation_expired: "The verification took too long and has expired. Ask for a new link.",
    reason_enrollment_not_found: "There is no enrolled face to compare with. Please contact the company that sent you this link.",
    reason_internal_error: "The service had a problem. Please try again later.",
    reason_unknown: "The verification failed.",

    error_heading: "Something went wrong",
    error_network: "Your photo could not be sent. Check your connection and try again.",
    error_too_slow: "The check is taking too long. Please try again later.",
    error_refused: "The service refused the request (error {n}). Please try again later.",

    link_incomplete_title: "This verification link is incomplete",
    link_incomplete_text: "The link has no token. Open the exact link you were given, or ask for a new one.",
    link_invalid_title: "This verification link is not valid",
    link_invalid_text: "The link was not issued by this service or has been altered. Ask for a new link.",
    link_expired_title: "This verification link has expired",
    link_expired_text: "Verification links are valid for a limited time. Ask for a new link.",
    link_used_title: "This verification link was already used",
    link_used_text: "Each link can be used for one verification only. Ask for a new link to verify again.",
    unavailable_title: "The verification service is unavailable",
    unavailable_text: "Please try again in a few minutes.",
};

const ES: Messages = Messages {
    page_title: "Verificación de identidad",
    language_label: "Idioma",
    secure_note: "Verificación segura",
    step_of: "Paso {n} de 3",

    consent_heading: "Verifica tu identidad",
    consent_intro: "{client} te pide confirmar que eres la persona que se registró con ellos. Toma alrededor de un minuto.",
    consent_what_title: "Qué capturamos",
    consent_what: "Una foto de tu rostro, tomada con tu cámara o elegida desde tu dispositivo.",
    consent_why_title: "Para qué",
    consent_why: "Para compararla con el rostro que registraste antes y confirmar que eres tú.",
    consent_who_title: "Quién recibe el resultado",
    consent_who: "{client} recibe el resultado (verificado o no) y un puntaje de similitud. Tu foto no se comparte con nadie.",
    consent_keep_title: "Cuánto tiempo se guarda",
    consent_keep: "Tu foto se elimina en cuanto se compara, normalmente en segundos. Solo se guarda el resultado.",
    consent_question: "¿Aceptas que se tome una foto de tu rostro para esta verificación?",
    consent_accept: "Acepto, continuar",
    consent_decline: "No, cancelar",

    declined_heading: "Verificación cancelada",
    declined_text: "No se tomó ninguna foto y no se envió nada. Puedes cerrar esta página. Si cambias de opinión, puedes empezar de nuevo mientras el enlace sea válido.",
    declined_restart: "Empezar de nuevo",

    capture_heading: "Toma una foto de tu rostro",
    capture_tips: "Busca buena luz, quítate las gafas de sol o el sombrero y ubica tu rostro dentro del óvalo.",
    camera_label: "Vista de la cámara",
    camera_starting: "Abriendo la cámara…",
    camera_ready: "Cuando tu rostro llene el óvalo, pulsa Tomar foto.",
    capture_button: "Tomar foto",
    upload_button: "Elegir una foto",
    upload_hint: "O usa una foto reciente de tu rostro desde tu dispositivo (JPEG, PNG o WebP).",
    camera_not_found: "No se encontró ninguna cámara. Elige una foto de tu rostro.",
    camera_not_allowed: "No se permitió usar la cámara. Puedes permitirlo en la configuración del navegador o elegir una foto de tu rostro.",
    camera_in_use: "Otra aplicación está usando la cámara. Ciérrala e inténtalo de nuevo, o elige una foto de tu rostro.",
    camera_unavailable: "No se pudo abrir la cámara. Elige una foto de tu rostro.",
    camera_unsupported: "Este navegador no puede abrir la cámara aquí. Elige una foto de tu rostro.",
    camera_no_picture: "La cámara aún no muestra imagen. Espera un momento e inténtalo de nuevo.",

    photo_alt: "La foto que se está verificando",
    checking_heading: "Verificando tu foto",
    sending: "Enviando tu foto…",
    checking: "La estamos comparando con el rostro que registraste. Normalmente toma unos segundos.",

    success_heading: "Identidad verificada",
    success_text: "Tu rostro coincide con el rostro que registraste.",
    failure_heading: "No pudimos verificarte",
    retry_heading: "Probemos con otra foto",
    retry_button: "Intentar de nuevo",
    photos_left: "Intentos restantes: {n}",
    redirecting: "Te estamos llevando de vuelta…",
    continue_link: "Continuar",
    close_page: "Ya puedes cerrar esta página.",

    reason_no_face_detected: "No encontramos un rostro en la foto. Mira a la cámara con buena luz y con todo el rostro dentro del óvalo.",
    reason_file_format_not_supported: "No pudimos leer este archivo. Usa una foto en formato JPEG, PNG o WebP.",
    reason_empty_input_file: "La foto estaba vacía. Toma o elige otra.",
    reason_too_large: "La foto es demasiado grande. Elige una de menos de {mb} MB.",
    reason_similarity_threshold_not_passed: "El rostro de la foto no coincide con el rostro que registraste.",
    reason_face_in_blocklist: "Esta verificación no se puede completar. Comunícate con la empresa que te envió este enlace.",
    reason_validation_expired: "La verificación tardó demasiado y expiró. Pide un enlace nuevo.",
    reason_enrollment_not_found: "No hay un rostro registrado con el cual comparar. Comunícate con la empresa que te envió este enlace.",
    reason_internal_error: "El servicio tuvo un problema. Inténtalo de nuevo más tarde.",
    reason_unknown: "La verificación no se pudo completar.",

    error_heading: "Algo salió mal",
    error_network: "No se pudo enviar tu foto. Revisa tu conexión e inténtalo de nuevo.",
    error_too_slow: "La verificación está tardando demasiado. Inténtalo de nuevo más tarde.",
    error_refused: "El servicio rechazó la solicitud (error {n}). Inténtalo de nuevo más tarde.",

    link_incomplete_title: "Este enlace de verificación está incompleto",
    link_incomplete_text: "El enlace no tiene token. Abre exactamente el enlace que recibiste o pide uno nuevo.",
    link_invalid_title: "Este enlace de verificación no es válido",
    link_invalid_text: "El enlace no fue emitido por este servicio o fue modificado. Pide un enlace nuevo.",
    link_expired_title: "Este enlace de verificación expiró",
    link_expired_text: "Los enlaces de verificación son válidos por un tiempo limitado. Pide un enlace nuevo.",
    link_used_title: "Este enlace de verificación ya se usó",
    link_used_text: "Cada enlace sirve para una sola verificación. Pide un enlace nuevo para verificarte otra vez.",
    unavailable_title: "El servicio de verificación no está disponible",
    unavailable_text: "Inténtalo de nuevo en unos minutos.",
};

const PT: Messages = Messages {
    page_title: "Verificação de identidade",
    language_label: "Idioma",
    secure_note: "Verificação segura",
    step_of: "Etapa {n} de 3",

    consent_heading: "Confirme sua identidade",
    consent_intro: "{client} pede que você confirme que é a pessoa que se cadastrou com eles. Leva cerca de um minuto.",
    consent_what_title: "O que capturamos",
    consent_what: "Uma foto do seu rosto, tirada com a sua câmera ou escolhida no seu dispositivo.",
    consent_why_title: "Para quê",
    consent_why: "Para compará-la com o rosto que você cadastrou antes e confirmar que é você.",
    consent_who_title: "Quem recebe o resultado",
    consent_who: "{client} recebe o resultado (verificado ou não) e uma pontuação de semelhança. Sua foto não é compartilhada com ninguém.",
    consent_keep_title: "Por quanto tempo é guardada",
    consent_keep: "Sua foto é apagada assim que é comparada, normalmente em segundos. Só o resultado é guardado.",
    consent_question: "Você concorda que uma foto do seu rosto seja tirada para esta verificação?",
    consent_accept: "Concordo, continuar",
    consent_decline: "Não, cancelar",

    declined_heading: "Verificação cancelada",
    declined_text: "Nenhuma foto foi tirada e nada foi enviado. Você pode fechar esta página. Se mudar de ideia, pode começar de novo enquanto o link for válido.",
    declined_restart: "Começar de novo",

    capture_heading: "Tire uma foto do seu rosto",
    capture_tips: "Procure boa luz, tire óculos escuros ou chapéu e posicione o rosto dentro do oval.",
    camera_label: "Imagem da câmera",
    camera_starting: "Abrindo a câmera…",
    camera_ready: "Quando o seu rosto preencher o oval, toque em Tirar foto.",
    capture_button: "Tirar foto",
    upload_button: "Escolher uma foto",
    upload_hint: "Ou use uma foto recente do seu rosto do seu dispositivo (JPEG, PNG ou WebP).",
    camera_not_found: "Nenhuma câmera foi encontrada. Escolha uma foto do seu rosto.",
    camera_not_allowed: "O uso da câmera não foi permitido. Você pode permitir nas configurações do navegador ou escolher uma foto do seu rosto.",
    camera_in_use: "Outro aplicativo está usando a câmera. Feche-o e tente de novo, ou escolha uma foto do seu rosto.",
    camera_unavailable: "Não foi possível abrir a câmera. Escolha uma foto do seu rosto.",
    camera_unsupported: "Este navegador não consegue abrir a câmera aqui. Escolha uma foto do seu rosto.",
    camera_no_picture: "A câmera ainda não tem imagem. Aguarde um momento e tente de novo.",

    photo_alt: "A foto que está sendo verificada",
    checking_heading: "Verificando sua foto",
    sending: "Enviando sua foto…",
    checking: "Estamos comparando com o rosto que você cadastrou. Normalmente leva alguns segundos.",

    success_heading: "Identidade confirmada",
    success_text: "Seu rosto corresponde ao rosto que você cadastrou.",
    failure_heading: "Não conseguimos confirmar sua identidade",
    retry_heading: "Vamos tentar outra foto",
    retry_button: "Tentar de novo",
    photos_left: "Tentativas restantes: {n}",
    redirecting: "Levando você de volta…",
    continue_link: "Continuar",
    close_page: "Você já pode fechar esta página.",

    reason_no_face_detected: "Não encontramos um rosto na foto. Olhe para a câmera com boa luz e com o rosto inteiro dentro do oval.",
    reason_file_format_not_supported: "Não conseguimos ler este arquivo. Use uma foto em formato JPEG, PNG ou WebP.",
    reason_empty_input_file: "A foto estava vazia. Tire ou escolha outra.",
    reason_too_large: "A foto é grande demais. Escolha uma com menos de {mb} MB.",
    reason_similarity_threshold_not_passed: "O rosto da foto não corresponde ao rosto que você cadastrou.",
    reason_face_in_blocklist: "Esta verificação não pode ser concluída. Entre em contato com a empresa que enviou este link.",
    reason_validation_expired: "A verificação demorou demais e expirou. Peça um novo link.",
    reason_enrollment_not_found: "Não há um rosto cadastrado para comparar. Entre em contato com a empresa que enviou este link.",
    reason_internal_error: "O serviço teve um problema. Tente de novo mais tarde.",
    reason_unknown: "Não foi possível concluir a verificação.",

    error_heading: "Algo deu errado",
    error_network: "Não foi possível enviar sua foto. Verifique sua conexão e tente de novo.",
    error_too_slow: "A verificação está demorando demais. Tente de novo mais tarde.",
    error_refused: "O serviço recusou o pedido (erro {n}). Tente de novo mais tarde.",

    link_incomplete_title: "Este link de verificação está incompleto",
    link_incomplete_text: "O link não tem token. Abra exatamente o link que você recebeu ou peça um novo.",
    link_invalid_title: "Este link de verificação não é válido",
    link_invalid_text: "O link não foi emitido por este serviço ou foi alterado. Peça um novo link.",
    link_expired_title: "Este link de verificação expirou",
    link_expired_text: "Os links de verificação valem por tempo limitado. Peça um novo link.",
    link_used_title: "Este link de verificação já foi usado",
    link_used_text: "Cada link serve para uma única verificação. Peça um novo link para verificar de novo.",
    unavailable_title: "O serviço de verificação não está disponível",
    unavailable_text: "Tente de novo em alguns minutos.",
};
