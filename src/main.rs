//! Parse args, run the command, turn the error into an exit code.

use clap::Parser;
use std::io::IsTerminal;

use tnsflow::cli::Cli;
use tnsflow::Error;

// A no-op build of a large pipeline is mostly small allocations (YAML values,
// records, paths); mimalloc makes them markedly cheaper than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    install_error_renderer();
    let code = match tnsflow::commands::dispatch(cli) {
        Ok(()) => 0,
        Err(err) => {
            let code = err.exit_code();
            report(err);
            code
        }
    };
    std::process::exit(code);
}

/// Writes the error to stderr; if stderr is unwritable (`2>/dev/full`) the exit
/// code still says what happened.
fn report(err: Error) {
    use std::io::Write;
    let text = match err {
        // Already reported stage by stage.
        Error::StagesFailed { .. } => return,
        Error::Config(config) => format!("{:?}", miette::Report::new(config)),
        other => format!("error: {other}"),
    };
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Errors are drawn with unicode, without colour off a terminal or under
/// NO_COLOR, and never wrapped, so scripts can grep them. As no-color.org
/// says (and clap's help does), an empty NO_COLOR is as good as unset.
fn install_error_renderer() {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = std::io::stderr().is_terminal() && !no_color;
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color)
                .unicode(true)
                .force_graphical(true)
                .wrap_lines(false)
                .width(200)
                .build(),
        )
    }));
}
