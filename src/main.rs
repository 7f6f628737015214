//! Serves every sample workflow on `0.0.0.0:$PORT` until SIGTERM or Ctrl-C.

#[tokio::main]
async fn main() -> Result<(), relay_workflow::ServeError> {
    relay_workflow::init_logging();
    // The settings (PORT, WORKFLOW_SECRET, the limits) come from the environment: Heroku's
    // config vars, or `.env` under `heroku local`.
    relay_samples::app().settings_from_env()?.serve().await
}
