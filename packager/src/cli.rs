//! Command-line interface.

use crate::qemu::Machine;
use crate::spec::BuildArgs;
use crate::{accel::AccelChoice, EXIT_VM_FAILURE};
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "kiln",
    version,
    about = "Pack a static Linux program into a Kiln unikernel image and boot it"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Pack PROGRAM into a bootable image.
    Build {
        /// A statically linked x86_64 Linux program [default: the config's "Program"].
        program: Option<PathBuf>,
        /// Where to write the image [default: <program name>.img in the current directory].
        #[arg(short, long, value_name = "IMAGE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        build: BuildArgs,
        /// Arguments given to the program (after argv[0]); they replace the config's Args.
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Boot an image, or a program (packed into a temporary image first).
    Run {
        /// An image made by `kiln build`, or a program.
        target: PathBuf,
        /// Memory of the VM, as QEMU's -m takes it (e.g. 256M, 1G) [default: RunConfig.Memory or 256M].
        #[arg(short, long, value_name = "MEM")]
        memory: Option<String>,
        /// Machine type.
        #[arg(long, value_enum, default_value_t = Machine::Microvm)]
        machine: Machine,
        /// Accelerator: auto probes KVM once (cached) and falls back to TCG
        /// [default: auto, or tcg when RunConfig.Accel is false].
        #[arg(long, value_enum)]
        accel: Option<AccelChoice>,
        /// At exit, list every path the program tried to open that does not exist.
        #[arg(long)]
        missing_files: bool,
        #[command(flatten)]
        build: BuildArgs,
        /// Arguments given to the program (only when running a program).
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Show an image's header, manifest and files.
    Inspect {
        /// An image made by `kiln build`.
        image: PathBuf,
    },
}

/// Parse `args` and run the command; returns the exit status.
pub fn main<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match cli.command {
        Command::Build {
            program,
            output,
            build,
            args,
        } => report(
            crate::image::build_command(program.as_deref(), output, &args, &build),
            1,
        ),
        Command::Inspect { image } => report(crate::inspect::inspect_command(&image), 1),
        Command::Run {
            target,
            memory,
            machine,
            accel,
            missing_files,
            build,
            args,
        } => {
            let opts = crate::run::RunOptions {
                memory,
                machine,
                accel,
                missing_files,
                build,
                args,
            };
            match crate::run::run_command(&target, &opts) {
                Ok(status) => status,
                Err(e) => {
                    eprintln!("kiln: error: {e:#}");
                    EXIT_VM_FAILURE
                }
            }
        }
    }
}

fn report(result: anyhow::Result<()>, failure: i32) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kiln: error: {e:#}");
            failure
        }
    }
}
