use super::*;
use kiln_image::ExitMatch;

fn parse(text: &str) -> Config {
    Config::parse(text, "config.json").unwrap()
}

fn err(text: &str) -> String {
    format!("{:#}", Config::parse(text, "config.json").unwrap_err())
}

#[test]
fn parses_ops_fields() {
    let c = parse(
        r#"{
          "Program": "server", "Args": ["-v"], "Env": {"A": "1"},
          "Files": ["a.txt"], "Dirs": ["static"], "MapDirs": {"data/*": "/srv"},
          "Mounts": {"/var/cache": "64M"}, "Cwd": "/srv", "NameServers": ["1.1.1.1"],
          "BaseVolumeSz": "100m", "TargetRoot": "rootfs",
          "RunConfig": {"Ports": ["8080"], "UDPPorts": ["53"], "Memory": "512M", "CPUs": 1,
                        "Accel": true, "IPAddress": "10.0.2.15", "NetMask": "255.255.255.0",
                        "Gateway": "10.0.2.2", "NameServers": ["9.9.9.9"], "Verbose": true,
                        "IPv6Address": "2001:db8::10"}
        }"#,
    );
    assert_eq!(c.program.as_deref(), Some("server"));
    assert_eq!(c.map_dirs["data/*"], "/srv");
    assert_eq!(c.run_config.cpus, Some(1));
    assert_eq!(c.target_root.as_deref(), Some("rootfs"));
    assert_eq!(c.run_config.udp_ports, ["53"]);
    assert_eq!(c.run_config.ip_address.as_deref(), Some("10.0.2.15"));
    assert_eq!(c.run_config.ipv6_address.as_deref(), Some("2001:db8::10"));
    assert!(c.run_config.verbose);
    assert!(c.has_build_fields());
    assert_eq!(
        c.notes(),
        ["BaseVolumeSz is ignored (images are sized to their contents)"]
    );
    assert!(!parse("{}").has_build_fields());
}

#[test]
fn names_match_case_insensitively_as_in_go() {
    let c = parse(
        r#"{"program": "p", "ENV": {"A": "1"}, "files": ["x"],
            "runconfig": {"ports": ["80"], "cpus": 1, "IPADDRESS": "10.0.0.5"},
            "cloudconfig": {"platform": "gcp", "ZONE": "us-west1-b"}}"#,
    );
    assert_eq!(c.program.as_deref(), Some("p"));
    assert_eq!(c.env["A"], "1");
    assert_eq!(c.files, ["x"]);
    assert_eq!(c.run_config.ports, ["80"]);
    assert_eq!(c.run_config.ip_address.as_deref(), Some("10.0.0.5"));
    assert_eq!(
        c.notes(),
        [
            "CloudConfig (Platform, Zone) is ignored (cloud deployment settings: kiln runs images \
          locally under QEMU)"
        ]
    );
    // Two spellings of one field: the later wins, with a note.
    let c = parse(r#"{"Env": {"A": "1"}, "env": {"B": "2"}}"#);
    assert_eq!(c.env.keys().collect::<Vec<_>>(), ["B"]);
    assert_eq!(
        c.notes(),
        ["Env is given twice; the later one is used (as ops does)"]
    );
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let e = err(concat!(
        "{\n",
        "  \"Prgram\": \"x\",\n",
        "  \"Args\": \"not a list\",\n",
        "  \"RunConfig\": {\n",
        "    \"CPUs\": 4,\n",
        "    \"Prots\": [\"80\"],\n",
        "    \"Ports\": [\"80\", \"http\"],\n",
        "    \"IPAddress\": \"10.0.2\"\n",
        "  },\n",
        "  \"Mounts\": {\"/srv/data\": \"/data\"}\n",
        "}\n"
    ));
    let lines: Vec<&str> = e.split("\nkiln: error: ").collect();
    assert_eq!(
        lines,
        [
            r#"config.json:2:3: unknown field "Prgram" (did you mean "Program"?)"#,
            r#"config.json:3:11: Args: expected a list of strings, found the string "not a list""#,
            "config.json:5:13: RunConfig.CPUs: 4 CPUs asked, but Kiln runs one CPU (SMP is not \
             supported yet); use 1",
            r#"config.json:6:5: unknown field "RunConfig.Prots" (did you mean "Ports"?)"#,
            "config.json:7:21: RunConfig.Ports: bad port \"http\" (use \"8080\", \"8000-8010\" \
             or \"8080:80\")",
            r#"config.json:8:18: RunConfig.IPAddress: "10.0.2" is not an IPv4 address"#,
            "config.json:10:27: Mounts: \"/srv/data\" -> \"/data\" is a host directory shared \
             with the VM: volumes are not supported yet (copy files in with Dirs or MapDirs; \
             Kiln mounts only tmpfs, as {\"/mount/point\": \"SIZE\"})",
        ]
    );
}

#[test]
fn hints_only_for_close_names() {
    assert_eq!(
        err(r#"{"Zzzzzz": 1}"#),
        r#"config.json:1:2: unknown field "Zzzzzz""#
    );
    // GPUs is ops' own field, not a typo of CPUs.
    let c = parse(r#"{"RunConfig": {"GPUs": 0, "GPUType": ""}}"#);
    assert!(c.notes().is_empty());
    assert_eq!(
        err(r#"{"RunConfig": {"GPU": 1}}"#),
        r#"config.json:1:16: unknown field "RunConfig.GPU" (did you mean "GPUs"?)"#
    );
    assert_eq!(
        err(r#"{"Memory": "1G"}"#),
        r#"config.json:1:2: unknown field "Memory" (it belongs in RunConfig: "RunConfig": {"Memory": ...})"#
    );
    assert_eq!(
        err(r#"{"RunConfig": {"Disk": "1G"}}"#),
        r#"config.json:1:16: unknown field "RunConfig.Disk""#
    );
}

#[test]
fn refusals_say_why() {
    assert_eq!(
        err(r#"{"RunConfig": {"CPUs": 2}}"#),
        "config.json:1:24: RunConfig.CPUs: 2 CPUs asked, but Kiln runs one CPU (SMP is not \
         supported yet); use 1"
    );
    let e = err(r#"{"Mounts": {"data": "/mnt"}}"#);
    assert!(
        e.contains("\"data\" -> \"/mnt\" is an ops volume: volumes are not supported yet"),
        "{e}"
    );
    let e = err(r#"{"RunConfig": {"Mounts": ["vol:/mnt"]}}"#);
    assert!(
        e.contains("RunConfig.Mounts: volumes are not supported yet"),
        "{e}"
    );
    let e = err(r#"{"RunConfig": {"GPUs": 1}}"#);
    assert!(e.contains("no GPU passthrough"), "{e}");
    let e = err(r#"{"ManifestPassthrough": {"firewall": {"rules": []}}}"#);
    assert!(e.contains("Kiln has no firewall"), "{e}");
    let e =
        err(r#"{"CloudConfig": {"Zone": 1, "RootVolume": {"sise": 10}, "Tags": [{"kye": "a"}]}}"#);
    let lines: Vec<&str> = e.split("\nkiln: error: ").collect();
    assert_eq!(
        lines,
        [
            "config.json:1:26: CloudConfig.Zone: expected a string, found the number 1",
            r#"config.json:1:44: unknown field "CloudConfig.RootVolume.sise" (did you mean "size"?)"#,
            r#"config.json:1:67: unknown field "CloudConfig.Tags[0].kye" (did you mean "key"?)"#,
        ]
    );
    let e = err(r#"{"Mounts": {"/srv": "lots"}}"#);
    assert!(e.contains("size \"lots\""), "{e}");
    assert!(err(r#"{"RunConfig": {"NetMask": "255.0.0.0"}}"#)
        .ends_with("RunConfig.NetMask needs RunConfig.IPAddress"));
}

#[test]
fn notes_for_harmless_fields() {
    let c = parse(
        r#"{"Uefi": true, "Force": false, "Klibs": ["ntp", "tls"], "Version": "1.0",
            "RunConfig": {"InstanceName": "web-1", "ShowDebug": true, "BridgeName": "br0",
                          "Nics": [{"IPAddress": "10.0.0.2"}]},
            "ManifestPassthrough": {"exec_protection": "t", "static_map_program": "t"}}"#,
    );
    let notes = c.notes().join("\n");
    for want in [
        "Uefi is ignored",
        "Klibs is ignored (Kiln has no klibs; the kernel has its own network, clock and DNS \
         set-up): ntp, tls",
        "Version is ignored (metadata, not used by kiln)",
        "RunConfig.InstanceName is ignored",
        "RunConfig.ShowDebug is ignored",
        "RunConfig.BridgeName \"br0\" is ignored",
        "RunConfig.Nics is ignored",
        "ManifestPassthrough keys are ignored (no meaning in Kiln): exec_protection, \
         static_map_program",
    ] {
        assert!(notes.contains(want), "{want} not in\n{notes}");
    }
    // A zero value asks nothing: no note.
    assert!(!notes.contains("Force"));
    assert_eq!(c.notes().len(), 8, "{notes}");
}

#[test]
fn run_settings_and_network_fields() {
    let c = parse(
        r#"{"RunConfig": {"Bridged": true, "TapName": "kiln7", "GdbPort": 4321,
                          "AtExit": "echo done", "Debug": true}}"#,
    );
    let r = &c.run_config;
    assert_eq!(r.tap.as_deref(), Some("kiln7"));
    assert_eq!(r.gdb_port, Some(4321));
    assert!(r.debug);
    assert_eq!(r.at_exit.as_deref(), Some("echo done"));
    assert!(!c.has_build_fields());
    let c = parse(r#"{"RunConfig": {"Bridged": true, "Debug": true}}"#);
    assert_eq!(c.run_config.tap.as_deref(), Some(DEFAULT_TAP));
    assert_eq!(c.run_config.gdb_port, Some(DEFAULT_GDB_PORT));
    let c = parse(r#"{"RunConfig": {"TapName": "tap3"}}"#);
    assert_eq!(c.run_config.tap, None);
    assert!(c.notes()[0].contains("ignored without RunConfig.Bridged"));
    let e = err(r#"{"RunConfig": {"TapName": "a/b", "GdbPort": 70000, "IPv6Address": "fe80::x"}}"#);
    assert_eq!(e.matches("kiln: error:").count(), 2, "{e}");
}

#[test]
fn reboot_on_exit_and_passthrough() {
    assert_eq!(
        parse(r#"{"RebootOnExit": true}"#).exit.reboot,
        Some(ExitMatch::NonZero)
    );
    assert_eq!(
        parse(r#"{"Debugflags": ["reboot_on_exit", "trace"]}"#)
            .exit
            .reboot,
        Some(ExitMatch::NonZero)
    );
    let c = parse(
        r#"{"Cwd": "/a", "Env": {"A": "1", "B": "1"}, "Args": ["x"],
            "ManifestPassthrough": {"cwd": "/srv", "environment": {"B": "2"},
              "arguments": ["server", "--port", "80"], "reboot_on_exit": "*",
              "expected_exit_code": ["3"], "ip6addr": "fd00::5", "missing_files": "t"}}"#,
    );
    assert_eq!(c.cwd.as_deref(), Some("/srv"));
    assert_eq!((c.env["A"].as_str(), c.env["B"].as_str()), ("1", "2"));
    assert_eq!(c.argv0.as_deref(), Some("server"));
    assert_eq!(c.args.as_deref().unwrap(), ["--port", "80"]);
    assert_eq!(c.exit.reboot, Some(ExitMatch::Any));
    assert_eq!(c.exit.expected, Some(ExitMatch::Codes(vec![3])));
    assert_eq!(c.run_config.ipv6_address.as_deref(), Some("fd00::5"));
    assert!(c.missing_files);
    let e = err(r#"{"ManifestPassthrough": {"reboot_on_exit": "often"}}"#);
    assert!(e.contains("\"often\" is not an exit status"), "{e}");
}

#[test]
fn bad_json_has_line_and_column() {
    assert_eq!(
        err("{\n  \"Args\": [\"a\",]\n}"),
        "config.json:2:16: bad JSON: trailing comma"
    );
    assert!(err("{\"Args\": [").starts_with("config.json:1:10: bad JSON: EOF"));
    assert!(err("{} x").starts_with("config.json:1:4: bad JSON: trailing characters"));
    assert_eq!(
        err("{\n \"RunConfig\": {\"CPUs\": \"two\"}}"),
        "config.json:2:24: RunConfig.CPUs: expected a whole number, found the string \"two\""
    );
    assert!(err("[1]").starts_with("config.json:1:1: expected an object"));
}
