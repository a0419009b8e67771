//! Tool failures as text a model can act on, with a kind that says whose failure it is:
//! one place classifies every Backstage error.

use backstage_client::BackstageError;

/// Whose failure a [`ToolError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad arguments: the model should fix its call.
    Invalid,
    /// Backstage failed or refused (with its HTTP status when it answered).
    Backstage {
        /// The HTTP status Backstage answered, if it answered.
        status: Option<u16>,
    },
    /// The caller may not do this (read-only mode, token restrictions).
    Refused,
    /// What was asked for does not exist.
    NotFound,
    /// stagedoor itself failed; not the caller's fault.
    Internal,
}

impl ErrorKind {
    /// The kind of an error that carries Backstage's HTTP `status` (a 404 is "not found").
    pub fn from_status(status: Option<u16>) -> Self {
        match status {
            Some(404) => Self::NotFound,
            status => Self::Backstage { status },
        }
    }
}

/// A tool call that failed; becomes an `isError` result with [`ToolError::message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    /// The message for the model: what failed and what to do next.
    pub message: String,
    /// Whose failure it is.
    pub kind: ErrorKind,
}

impl ToolError {
    /// Bad arguments: the model should fix its call.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: ErrorKind::Invalid,
        }
    }

    /// stagedoor itself failed (e.g. an answer that cannot be serialized).
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: ErrorKind::Internal,
        }
    }

    /// The caller may not do this.
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: ErrorKind::Refused,
        }
    }

    /// The HTTP status Backstage answered, if any (for logs and audit).
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            ErrorKind::Backstage { status } => status,
            ErrorKind::NotFound => Some(404),
            _ => None,
        }
    }

    /// A Backstage failure while doing `what` (e.g. "searching the catalog").
    pub fn backstage(what: &str, err: &BackstageError) -> Self {
        let advice = match err {
            BackstageError::Connect { url, message } => format!(
                "could not connect to Backstage ({message}; {url}). Check that Backstage is running and that backstage.baseUrl / BACKSTAGE_BASE_URL points at its backend."
            ),
            BackstageError::Timeout { after, .. } => format!(
                "Backstage did not answer within {}. It may be overloaded or unreachable; try again shortly, or raise backstage.timeout / REQUEST_TIMEOUT_MS.",
                humantime::format_duration(*after)
            ),
            BackstageError::Api {
                status,
                name,
                message,
                url,
            } if url == crate::local::LOCAL_URL => {
                let label = name
                    .as_deref()
                    .map_or_else(|| message.clone(), |n| format!("{n}: {message}"));
                match status {
                    400 => format!(
                        "the local catalog rejected the request ({status} {label}). Adjust the arguments."
                    ),
                    s => format!("the local catalog answered {s} ({label})."),
                }
            }
            BackstageError::Api {
                status,
                name,
                message,
                ..
            } => {
                let label = match name {
                    Some(n) => format!("{n}: {message}"),
                    None => message.clone(),
                };
                match status {
                    401 => format!(
                        "Backstage rejected the credentials (401 {label}). Check backstage.token / BACKSTAGE_TOKEN: it must match a static token in Backstage's backend.auth.externalAccess, or be a valid, unexpired user token."
                    ),
                    403 => format!(
                        "Backstage refused the request (403 {label}). The identity behind the token lacks permission; ask a Backstage admin, or use a token with access."
                    ),
                    404 => format!("Backstage answered 404 ({label})."),
                    400 => format!(
                        "Backstage rejected the request (400 {label}). Adjust the arguments."
                    ),
                    429 => format!("Backstage is rate limiting (429 {label}). Wait and retry."),
                    s if *s >= 500 => format!(
                        "Backstage failed ({s} {label}). This is a server-side problem; retry later, and check the Backstage logs if it persists."
                    ),
                    s => format!("Backstage answered {s} ({label})."),
                }
            }
            BackstageError::Decode { message, .. } => format!(
                "Backstage's answer was not the JSON expected ({message}). Check that backstage.baseUrl is the Backstage backend (not the frontend or a proxy login page)."
            ),
            BackstageError::Config(message) => format!("stagedoor is misconfigured: {message}."),
            other => format!("{other}"),
        };
        Self {
            message: format!("Failed while {what}: {advice}"),
            kind: ErrorKind::from_status(err.status()),
        }
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
