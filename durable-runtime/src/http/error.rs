//! [`ApiError`]: every failure of the HTTP API, as a status code and a JSON body
//! `{"message": "..."}` that says what was wrong.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::{ClientError, StoreError};

/// An HTTP API error: a status code and a message.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status code.
    pub status: StatusCode,
    /// What was wrong and what to do.
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            // `message` is ours; `Message` and `ExceptionMessage` are the fields of ASP.NET's
            // error body that Durable Functions' clients read (the Python client raises a
            // `KeyError` without `ExceptionMessage`, hiding the message).
            Json(serde_json::json!({
                "message": self.message,
                "Message": self.message,
                "ExceptionMessage": self.message,
            })),
        )
            .into_response()
    }
}

impl From<ClientError> for ApiError {
    /// Maps client errors to Durable Functions' status codes: 400 bad input, 404 unknown
    /// instance, 410 an operation on a finished instance, 409 another state conflict.
    fn from(error: ClientError) -> Self {
        let status = match &error {
            ClientError::InvalidInstanceId(_)
            | ClientError::InputEncode { .. }
            | ClientError::UnknownOrchestration { .. } => StatusCode::BAD_REQUEST,
            ClientError::InstanceNotFound(_) => StatusCode::NOT_FOUND,
            ClientError::InvalidState { status, .. } if status.is_terminal() => StatusCode::GONE,
            ClientError::InvalidState { .. }
            | ClientError::Store(StoreError::InstanceAlreadyExists { .. }) => StatusCode::CONFLICT,
            ClientError::Store(StoreError::InvalidContinuationToken(_)) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.to_string())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request(format!("bad query string: {}", rejection.body_text()))
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        // A body that stopped arriving fails with tower-http's `TimeoutError` in its chain.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
        while let Some(error) = source {
            if error.is::<tower_http::timeout::TimeoutError>() {
                return Self::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body did not arrive in time (`HttpOptions::body_read_timeout`)",
                );
            }
            source = error.source();
        }
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the request body is larger than the limit (`HttpOptions::max_body_bytes`)".to_owned()
        } else {
            rejection.body_text()
        };
        Self::new(status, message)
    }
}
