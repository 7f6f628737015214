//! Serves every sample workflow on `0.0.0.0:$PORT` until SIGTERM or Ctrl-C.

#[tokio::main]
async fn main() -> Result<(), relay_workflow::ServeError> {
    relay_workflow::init_logging();
    relay_samples::app().serve().await
}
