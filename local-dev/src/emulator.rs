//! Whether this process talks to a local emulator rather than AWS.

/// `AWS_ENDPOINT_URL` is set (every AWS call goes to an emulator) and this is not a Lambda.
pub fn is_emulator() -> bool {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.trim().is_empty());
    endpoint && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none()
}
