//! Serves this app's Relay workflows on `0.0.0.0:$PORT` until SIGTERM or Ctrl-C.

#[tokio::main]
async fn main() -> Result<(), relay_workflow::ServeError> {
    relay_workflow::init_logging();
    {{crate_name}}::app().serve().await
}
