//! Errors of loading and calling plugins.

use std::time::Duration;

/// Whose fault an error is, for exit codes and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The user's input is wrong: the files rendered, or the plugin file they chose.
    Input,
    /// Something outside the input failed: the plugin misbehaved, or the host could not run it.
    Runtime,
}

/// A plugin could not be loaded, or a call to it failed. Every variant names the plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a component implementing the expected world with the imports the
    /// host offers.
    #[error("plugin {plugin} is not a valid driftless plugin: {reason}")]
    Invalid {
        /// The plugin.
        plugin: String,
        /// Why (from the compiler or linker).
        reason: String,
    },
    /// The plugin's metadata rules it out.
    #[error("plugin {plugin} refused: {reason}")]
    Refused {
        /// The plugin.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// The plugin rejected its input.
    #[error("{}{message}", location(file.as_deref(), *line))]
    Input {
        /// The plugin.
        plugin: String,
        /// What is wrong, in the plugin's words.
        message: String,
        /// The file at fault, relative to the render root.
        file: Option<String>,
        /// The 1-based line in `file`.
        line: Option<u32>,
    },
    /// The call ran past its deadline and was stopped.
    #[error("plugin {plugin} was stopped after {:.1} s: it exceeded its time limit of {:.1} s", elapsed.as_secs_f64(), limit.as_secs_f64())]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The time limit.
        limit: Duration,
        /// How long it ran.
        elapsed: Duration,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error("plugin {plugin} was stopped: it tried to use more than its memory limit of {} MiB", limit >> 20)]
    MemoryLimit {
        /// The plugin.
        plugin: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// The plugin trapped (panicked, hit `unreachable`, overflowed its stack, ...).
    #[error("plugin {plugin} crashed: {message}{}", if stderr.is_empty() { String::new() } else { format!("\nplugin stderr:\n{stderr}") })]
    Trap {
        /// The plugin.
        plugin: String,
        /// The trap, from the runtime.
        message: String,
        /// The end of what the plugin wrote to stderr (a panic message, usually).
        stderr: String,
    },
    /// The plugin returned something that is not a Kubernetes object.
    #[error("plugin {plugin} returned an invalid object (item {index}): {reason}")]
    BadOutput {
        /// The plugin.
        plugin: String,
        /// Index of the bad item in the plugin's output.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The plugin tried to reach a host it may not reach; the call failed as a whole.
    #[error("plugin {plugin} tried to reach {host}, which it is not granted (it may reach: {granted})")]
    Denied {
        /// The plugin.
        plugin: String,
        /// The host (`host[:port]`, as the plugin wrote it) it tried to reach.
        host: String,
        /// The hosts it may reach.
        granted: String,
    },
    /// The host itself could not do its part.
    #[error("plugin host: {0}")]
    Host(String),
}

fn location(file: Option<&str>, line: Option<u32>) -> String {
    match (file, line) {
        (Some(file), Some(line)) => format!("{file} line {line}: "),
        (Some(file), None) => format!("{file}: "),
        _ => String::new(),
    }
}

impl PluginError {
    /// Whose fault the error is.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            PluginError::Invalid { .. } | PluginError::Refused { .. } | PluginError::Input { .. } => {
                ErrorClass::Input
            }
            PluginError::Timeout { .. }
            | PluginError::MemoryLimit { .. }
            | PluginError::Trap { .. }
            | PluginError::BadOutput { .. }
            | PluginError::Denied { .. }
            | PluginError::Host(_) => ErrorClass::Runtime,
        }
    }
}
