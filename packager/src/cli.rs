//! Command-line interface.

use crate::net::{parse_net, NetMode};
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
    about = "Pack a Linux program into a Kiln unikernel image and boot it"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Pack PROGRAM into a bootable image.
    Build {
        /// An x86_64 Linux program, static or dynamically linked (with --root, a path
        /// inside that root) [default: the config's "Program"].
        program: Option<PathBuf>,
        /// Where to write the image [default: <program name>.img in the current directory,
        /// or .qcow2, .vmdk, ... for --format].
        #[arg(short, long, value_name = "IMAGE")]
        output: Option<PathBuf>,
        /// Say nothing but errors (no notes).
        #[arg(short, long)]
        quiet: bool,
        /// Write a disk that boots by itself (BIOS and UEFI, through GRUB), without
        /// `kiln run`: what a cloud or hypervisor starts.
        #[arg(long)]
        bootable: bool,
        /// Disk format (implies --bootable unless raw): raw, qcow2, vmdk
        /// (streamOptimized), vhd (fixed, Azure), vhdx, vdi or gce (disk.raw in a tar.gz)
        /// [default: raw].
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
        #[command(flatten)]
        build: BuildArgs,
        /// Arguments given to the program (after argv[0], after any -a); they replace the
        /// config's Args (ops: -a ARG).
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Boot an image, or a program (packed into a temporary image first).
    Run {
        /// An image or disk made by `kiln build` (any --format), or a program.
        target: PathBuf,
        /// Memory of the VM, as QEMU's -m takes it (e.g. 256M, 1G) [default: RunConfig.Memory or 256M].
        #[arg(short, long, value_name = "MEM")]
        memory: Option<String>,
        /// CPUs of the VM (RunConfig.CPUs): 1, until Kiln has SMP.
        #[arg(long, value_name = "N")]
        smp: Option<u32>,
        /// Machine type.
        #[arg(long, value_enum, default_value_t = Machine::Microvm)]
        machine: Machine,
        /// Boot a self-booting disk through SeaBIOS on q35, as a cloud does (the
        /// default for qcow2, vmdk, vhd, vhdx, vdi and gce disks; a raw image
        /// boots with QEMU loading the kernel unless this or --uefi is given).
        #[arg(long, conflicts_with = "uefi")]
        bios: bool,
        /// Boot a self-booting disk through UEFI (OVMF) on q35.
        #[arg(long)]
        uefi: bool,
        /// Accelerator: auto probes KVM once (cached) and falls back to TCG
        /// [default: auto, or tcg when RunConfig.Accel is false].
        #[arg(long, value_enum)]
        accel: Option<AccelChoice>,
        /// At exit, list every path the program tried to open that does not exist.
        #[arg(long)]
        missing_files: bool,
        /// Sample where the VM's time goes, HZ times a second (10 to 10000)
        /// [default: 1000]; at exit print the top functions and the kernel's
        /// counters, and write a flame graph (see --profile-out).
        #[arg(long, value_name = "HZ", num_args = 0..=1, require_equals = true, default_missing_value = "1000")]
        profile: Option<String>,
        /// Where --profile writes its flame graph (SVG) [default: ./kiln-profile.svg];
        /// implies --profile.
        #[arg(long, value_name = "PATH")]
        profile_out: Option<PathBuf>,
        /// Print every system call of the program as strace does, on standard
        /// error (see --trace-file); SET limits it as strace's -e trace=SET:
        /// names and classes (%file, %desc, %network, %memory, %signal,
        /// %process, %ipc, %creds, %clock), `all`, and `!` for all but those.
        #[arg(long, value_name = "SET", num_args = 0..=1, require_equals = true, default_missing_value = "all")]
        trace: Option<String>,
        /// Write the --trace lines to PATH instead (implies --trace).
        #[arg(long, value_name = "PATH")]
        trace_file: Option<PathBuf>,
        /// How trace lines are stamped [default: relative].
        #[arg(long, value_enum, value_name = "relative|wall")]
        trace_time: Option<crate::trace::TraceTime>,
        /// Longest data string a trace line shows [default: 32].
        #[arg(long, value_name = "N")]
        trace_strlen: Option<usize>,
        /// Add WORD to the kernel's command line (repeatable; for kernel work,
        /// e.g. kiln.log=verbose or kiln.panic-test).
        #[arg(long = "kernel-arg", value_name = "WORD", value_parser = parse_kernel_arg)]
        kernel_args: Vec<String>,
        /// At exit, print a table of the system calls (calls, errors, time),
        /// as strace -c does, with those not implemented listed first.
        #[arg(long)]
        syscall_summary: bool,
        /// Forward a host TCP port to the program (repeatable): PORT, HOST:GUEST
        /// or LOW-HIGH. Host ports listen on 127.0.0.1; put ADDR: first to listen
        /// elsewhere (e.g. 0.0.0.0:8080:80).
        #[arg(short = 'p', long = "port", value_name = "[ADDR:]HOST[:GUEST]")]
        ports: Vec<String>,
        /// Forward a host UDP port to the program (repeatable; forms as -p).
        #[arg(long = "udp", value_name = "[ADDR:]HOST[:GUEST]")]
        udp_ports: Vec<String>,
        /// The VM's network card: user (QEMU's NAT, with the port forwards),
        /// none (no card), or tap:NAME (an existing tap device; ops: -b -t NAME)
        /// [default: user, or the tap of RunConfig.Bridged].
        #[arg(long, value_name = "user|none|tap:NAME", value_parser = parse_net)]
        net: Option<NetMode>,
        /// Use a tap network: the device of -t, RunConfig.TapName, or tap0
        /// (ops' spelling of --net tap:NAME; RunConfig.Bridged).
        #[arg(short, long)]
        bridged: bool,
        /// The tap device for -b (implies it; RunConfig.TapName).
        #[arg(short, long, value_name = "NAME", value_parser = parse_tapname)]
        tapname: Option<String>,
        /// Start QEMU's gdb stub on 127.0.0.1:PORT (RunConfig.GdbPort).
        #[arg(short, long, visible_alias = "gdb-port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
        gdbport: Option<u16>,
        /// Start the gdb stub (on -g's port, or 1234) and wait for gdb before
        /// the kernel runs (RunConfig.Debug).
        #[arg(short, long)]
        debug: bool,
        /// Debug the program with gdb: QEMU's gdb stub on 127.0.0.1:PORT
        /// [default: 1234], the VM held until gdb attaches; kiln prints the gdb
        /// command that loads the kernel's and the program's symbols and stops
        /// at the program's entry (ops: -d -g PORT).
        #[arg(long, value_name = "PORT", num_args = 0..=1, require_equals = true, default_missing_value = "1234", value_parser = clap::value_parser!(u16).range(1..))]
        gdb: Option<u16>,
        /// Say more: the kernel's boot and device lines and the QEMU command
        /// line (RunConfig.Verbose).
        #[arg(short, long)]
        verbose: bool,
        /// Say nothing but the program's own output (and errors): no notes,
        /// no kernel lines.
        #[arg(short, long, conflicts_with = "verbose")]
        quiet: bool,
        #[command(flatten)]
        build: BuildArgs,
        /// Arguments given to the program, after any -a (only when running a program;
        /// ops: -a ARG).
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Show an image's header, manifest and files.
    Inspect {
        /// An image or disk made by `kiln build` (any --format).
        image: PathBuf,
    },
}

/// `-t NAME`: a Linux interface name.
fn parse_tapname(s: &str) -> Result<String, String> {
    if crate::config::valid_ifname(s) {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a network interface name"))
    }
}

/// One word of the kernel command line: no spaces.
fn parse_kernel_arg(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err("one word, without spaces".into());
    }
    Ok(s.to_string())
}

/// Exit status for a command line kiln cannot use (as clap's).
pub const EXIT_USAGE: i32 = 2;

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
            quiet,
            bootable,
            format,
            build,
            args,
        } => {
            crate::log::set(crate::log::from_flags(quiet, false));
            // A bad --format is the only message, before any work.
            let format = match format.as_deref().map(crate::disk::Format::parse) {
                None => crate::disk::Format::Raw,
                Some(Ok(f)) => f,
                Some(Err(e)) => {
                    eprintln!("kiln: error: {e:#}");
                    return EXIT_USAGE;
                }
            };
            let disk = crate::disk::DiskOptions { bootable, format };
            report(
                crate::image::build_disk_command(program.as_deref(), output, &args, &build, disk),
                1,
            )
        }
        Command::Inspect { image } => report(crate::inspect::inspect_command(&image), 1),
        Command::Run {
            target,
            memory,
            smp,
            machine,
            bios,
            uefi,
            accel,
            missing_files,
            profile,
            profile_out,
            trace,
            trace_file,
            trace_time,
            trace_strlen,
            kernel_args,
            syscall_summary,
            ports,
            udp_ports,
            net,
            bridged,
            tapname,
            gdbport,
            debug,
            gdb,
            verbose,
            quiet,
            build,
            args,
        } => {
            crate::log::set(crate::log::from_flags(quiet, verbose));
            let trace = match crate::trace::TraceSettings::from_options(
                trace.as_deref(),
                trace_file,
                trace_time,
                trace_strlen,
            ) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("kiln: error: {e:#}");
                    return EXIT_USAGE;
                }
            };
            let profile = match crate::profile::settings(profile.as_deref(), profile_out.as_deref())
            {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("kiln: error: {e}");
                    return EXIT_USAGE;
                }
            };
            use crate::disk::firmware::Firmware;
            let opts = crate::run::RunOptions {
                memory,
                machine,
                firmware: match (bios, uefi) {
                    (_, true) => Some(Firmware::Uefi),
                    (true, false) => Some(Firmware::Bios),
                    (false, false) => None,
                },
                accel,
                missing_files,
                profile,
                trace,
                kernel_args,
                syscall_summary,
                ports,
                udp_ports,
                net,
                bridged,
                tapname,
                gdb_port: gdb.or(gdbport),
                debug: debug || gdb.is_some(),
                verbose,
                smp,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run_args(args: &[&str]) -> (Vec<String>, Vec<String>, Option<NetMode>) {
        let argv = ["kiln", "run", "prog"].iter().chain(args);
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Run {
                ports,
                udp_ports,
                net,
                ..
            } => (ports, udp_ports, net),
            other => panic!("not run: {other:?}"),
        }
    }

    fn profile_args(args: &[&str]) -> (Option<String>, Option<PathBuf>, Vec<String>) {
        let argv = ["kiln", "run", "prog"].iter().chain(args);
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Run {
                profile,
                profile_out,
                args,
                ..
            } => (profile, profile_out, args),
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn profile_options() {
        use crate::profile::{settings, DEFAULT_HZ};
        assert_eq!(profile_args(&[]), (None, None, vec![]));
        // Without a value: the default rate, which the kernel gets.
        let (p, o, _) = profile_args(&["--profile"]);
        assert_eq!(p.as_deref(), Some(DEFAULT_HZ.to_string().as_str()));
        let s = settings(p.as_deref(), o.as_deref()).unwrap().unwrap();
        assert_eq!(
            (s.hz, s.out),
            (DEFAULT_HZ, PathBuf::from("kiln-profile.svg"))
        );
        let (p, o, a) = profile_args(&[
            "--profile=250",
            "--profile-out",
            "/tmp/x.svg",
            "--",
            "--profile=9",
        ]);
        assert_eq!(
            (p.as_deref(), o.as_deref()),
            (Some("250"), Some(Path::new("/tmp/x.svg")))
        );
        assert_eq!(a, ["--profile=9"]);
        // The value needs `=`: a word after --profile is not its rate.
        assert!(Cli::try_parse_from(["kiln", "run", "prog", "--profile", "250"]).is_err());
        // A bad rate is one `kiln: error:` line and a usage status, before
        // anything runs.
        assert_eq!(
            main(["kiln", "run", "/nonexistent", "--profile=5"]),
            EXIT_USAGE
        );
        assert_eq!(
            main(["kiln", "run", "/nonexistent", "--profile=lots"]),
            EXIT_USAGE
        );
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn ops_spellings() {
        let argv = [
            "kiln",
            "run",
            "prog",
            "-e",
            "A=1",
            "--envs",
            "B=2",
            "--env",
            "C=3",
            "-a",
            "x",
            "-a",
            "-y",
            "--ip-address",
            "10.0.0.5",
            "--gateway",
            "10.0.0.1",
            "--netmask",
            "255.255.0.0",
            "--ipv6-address",
            "fd00::5",
            "-b",
            "-t",
            "tap7",
            "-g",
            "4321",
            "-d",
            "-v",
            "--smp",
            "1",
            "--target-root",
            "/srv/root",
            "-p",
            "8080",
            "--",
            "z",
        ];
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Run {
                build,
                args,
                bridged,
                tapname,
                gdbport,
                debug,
                verbose,
                smp,
                ports,
                ..
            } => {
                assert_eq!(build.env, ["A=1", "B=2", "C=3"]);
                assert_eq!(build.arg, ["x", "-y"]);
                assert_eq!(args, ["z"]);
                assert_eq!(build.ip_address.as_deref(), Some("10.0.0.5"));
                assert_eq!(build.gateway.as_deref(), Some("10.0.0.1"));
                assert_eq!(build.netmask.as_deref(), Some("255.255.0.0"));
                assert_eq!(build.ipv6_address.as_deref(), Some("fd00::5"));
                assert_eq!(build.root.as_deref(), Some(Path::new("/srv/root")));
                assert!(bridged && debug && verbose);
                assert_eq!(tapname.as_deref(), Some("tap7"));
                assert_eq!((gdbport, smp), (Some(4321), Some(1)));
                assert_eq!(ports, ["8080"]);
            }
            other => panic!("not run: {other:?}"),
        }
        // --smp above 1 is refused before anything runs (SMP does not exist yet).
        assert_eq!(
            main(["kiln", "run", "/nonexistent", "--smp", "2"]),
            EXIT_VM_FAILURE
        );
        assert!(Cli::try_parse_from(["kiln", "run", "p", "-t", "a/b"]).is_err());
        assert!(Cli::try_parse_from(["kiln", "run", "p", "-g", "0"]).is_err());
        // The help shows ops' names next to Kiln's.
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("run")
            .unwrap()
            .render_long_help()
            .to_string();
        for alias in [
            "--envs",
            "--target-root",
            "--gdb-port",
            "ops: -b -t NAME",
            "ops: -a ARG",
        ] {
            assert!(help.contains(alias), "{alias} not in help:\n{help}");
        }
    }

    #[test]
    fn network_options() {
        let (p, u, n) = run_args(&[]);
        assert!(p.is_empty() && u.is_empty());
        assert_eq!(n, None);
        let (p, u, n) = run_args(&[
            "-p",
            "8080",
            "--port",
            "0.0.0.0:9090:90",
            "--udp",
            "5353:53",
            "--net",
            "tap:kiln0",
            "--",
            "-p",
        ]);
        assert_eq!(p, ["8080", "0.0.0.0:9090:90"]);
        assert_eq!(u, ["5353:53"]);
        assert_eq!(n, Some(NetMode::Tap("kiln0".into())));
        let (_, _, n) = run_args(&["--net", "none"]);
        assert_eq!(n, Some(NetMode::None));
        let e = Cli::try_parse_from(["kiln", "run", "prog", "--net", "bridge"]).unwrap_err();
        assert!(e.to_string().contains("use user, none or tap:NAME"), "{e}");
    }
}
