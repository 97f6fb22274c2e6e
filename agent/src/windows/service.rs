//! The Windows service: `parc-agent service`, registered by the MSI as an auto-start
//! LocalSystem service named [`SERVICE_NAME`]. It runs the same loop as `parc-agent run` on
//! Linux; a stop or shutdown from the SCM cancels the same token SIGTERM cancels there, so a
//! document is either fully spooled or not at all.
//!
//! Logs go to a daily-rotated file under `%ProgramData%\Parc\logs` (14 days kept): a service
//! has no console, and admins collect files more easily than event log entries.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

use super::acl::INSTALL_KEY_OBJECT;
use super::paths::{log_dir, this_parc_dir, SERVICE_NAME};
use super::win32;

const KEPT_LOG_FILES: usize = 14;

define_windows_service!(ffi_service_main, service_main);

/// Hands this thread to the SCM until the service stops. Started from a console instead of by
/// the SCM, it says so rather than hanging.
pub fn dispatch() -> ExitCode {
    match service_dispatcher::start(SERVICE_NAME, ffi_service_main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "parc-agent: `service` is started by the Windows service manager \
                 (sc start {SERVICE_NAME}); for a foreground run use `parc-agent run` ({e})"
            );
            ExitCode::from(2)
        }
    }
}

fn service_main(_arguments: Vec<OsString>) {
    init_logging();
    if let Err(e) = run_service() {
        tracing::error!(error = %format!("{e:#}"), "service failed");
    }
}

fn init_logging() {
    let appender = std::fs::create_dir_all(log_dir())
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("parc-agent")
                .filename_suffix("log")
                .max_log_files(KEPT_LOG_FILES)
                .build(log_dir())
                .map_err(anyhow::Error::from)
        });
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match appender {
        Ok(appender) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(Mutex::new(appender))
            .init(),
        // Without a log file the service still runs; the SCM's exit code tells that it failed.
        Err(_) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::sink)
            .init(),
    }
}

fn run_service() -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let on_control = shutdown.clone();
    let status = service_control_handler::register(SERVICE_NAME, move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            tracing::info!(?control, "stop requested by the service manager");
            on_control.cancel();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })?;
    let report = |state: ServiceState, exit: u32, wait: Duration| {
        status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: if state == ServiceState::Running {
                ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
            } else {
                ServiceControlAccept::empty()
            },
            exit_code: if exit == 0 {
                ServiceExitCode::Win32(0)
            } else {
                ServiceExitCode::ServiceSpecific(exit)
            },
            checkpoint: 0,
            wait_hint: wait,
            process_id: None,
        })
    };

    // The service's own arguments come from the SCM; the image path's (`service`, maybe
    // `--config`) are the process's, parsed exactly as on the command line.
    let cli = crate::cli::Cli::parse_from(std::env::args_os());
    protect_secrets();
    let outcome = (|| {
        let config = crate::cli::load_config(&cli)?;
        report(ServiceState::Running, 0, Duration::ZERO)?;
        tracing::info!(version = env!("CARGO_PKG_VERSION"), state_dir = %config.state_dir.display(), "service started");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(crate::service::run(&config, true, shutdown.clone()))
    })();
    // Stopping waits for at most one document write; tell the SCM it is coming.
    report(ServiceState::StopPending, 0, Duration::from_secs(10))?;
    let exit = match &outcome {
        Ok(()) => {
            tracing::info!("service stopped");
            0
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "service stopped on an error");
            1
        }
    };
    report(ServiceState::Stopped, exit, Duration::ZERO)?;
    outcome
}

/// Restricts `%ProgramData%\Parc` (config, agent id, spool, logs) and the MSI's install key,
/// which hold the token, to SYSTEM and Administrators (see [`super::acl`]). Done at every start
/// so a file an admin dropped in, or a key an upgrade rewrote, is covered again. A failure is
/// logged and the service runs on: reporting matters more than a second layer of protection.
fn protect_secrets() {
    let dir = this_parc_dir();
    let restricted = std::fs::create_dir_all(&dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| win32::restrict_directory(&dir).map_err(anyhow::Error::from));
    match restricted {
        Ok(()) => {
            tracing::debug!(path = %dir.display(), "access restricted to SYSTEM and Administrators")
        }
        Err(e) => {
            tracing::warn!(path = %dir.display(), error = %format!("{e:#}"), "cannot restrict access to the agent's directory")
        }
    }
    match win32::restrict_registry_key(INSTALL_KEY_OBJECT) {
        Ok(()) => tracing::debug!(
            key = INSTALL_KEY_OBJECT,
            "access restricted to SYSTEM and Administrators"
        ),
        Err(e) => {
            tracing::warn!(key = INSTALL_KEY_OBJECT, error = %e, "cannot restrict access to the install key")
        }
    }
}
