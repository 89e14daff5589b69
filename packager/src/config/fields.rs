//! Every field of ops' `Config`, `RunConfig` and `CloudConfig` (ops'
//! `types/config.go`), with its JSON type and what Kiln does with it.
//! Fields marked [`Use::Kiln`] are decoded in `mod.rs`; the others are
//! checked for their type and noted.

/// A field's JSON type, as Go's encoding/json checks it.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    Str,
    Bool,
    Int,
    /// An array of strings.
    Strs,
    /// An object of strings.
    StrMap,
    /// An object of anything (ManifestPassthrough).
    AnyMap,
    Struct(&'static [Field]),
    StructList(&'static [Field]),
}

/// What Kiln does with a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Decoded (honoured, or refused where it would be wrong to ignore).
    Kiln,
    /// Accepted and ignored, with a note giving the reason.
    Note(&'static str),
    /// Part of a block noted as a whole (CloudConfig's fields).
    InBlock,
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub use_: Use,
}

const fn kiln(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        use_: Use::Kiln,
    }
}

const fn note(name: &'static str, ty: Ty, why: &'static str) -> Field {
    Field {
        name,
        ty,
        use_: Use::Note(why),
    }
}

const fn block(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        use_: Use::InBlock,
    }
}

use Ty::*;

const NO_KERNEL: &str = "kiln embeds its own kernel";
const METADATA: &str = "metadata, not used by kiln";
const CLOUD: &str = "a cloud setting: kiln runs images locally";
const NO_PACKAGES: &str = "kiln does not download packages";
const LOGGING: &str = "kiln prints errors and notes always";

/// The top level of config.json: ops' 38 fields and Kiln's `Cwd`.
pub const CONFIG: &[Field] = &[
    kiln("Args", Strs),
    kiln("DisableArgsCopy", Bool),
    note("BaseVolumeSz", Str, "images are sized to their contents"),
    note("Boot", Str, "the kernel is inside the image"),
    note("UefiBoot", Str, "the kernel is inside the image"),
    note(
        "Uefi",
        Bool,
        "every disk of `kiln build --bootable` or `--format` boots with UEFI and with BIOS",
    ),
    note(
        "BuildDir",
        Str,
        "kiln builds in memory and writes the image in one step",
    ),
    kiln("CloudConfig", Struct(CLOUD_CONFIG)),
    note("TargetConfig", StrMap, CLOUD),
    kiln("Debugflags", Strs),
    kiln("Dirs", Strs),
    kiln("Env", StrMap),
    kiln("Files", Strs),
    note("Force", Bool, "kiln always writes the image"),
    note("Home", Str, "kiln keeps no ops home"),
    note("Kernel", Str, NO_KERNEL),
    note("KlibDir", Str, "Kiln has no klibs"),
    kiln("Klibs", Strs),
    kiln("MapDirs", StrMap),
    kiln("Mounts", StrMap),
    kiln("NameServers", Strs),
    note("NanosVersion", Str, NO_KERNEL),
    note("NightlyBuild", Bool, NO_KERNEL),
    note(
        "NoTrace",
        Strs,
        "Kiln has no syscall trace; `kiln run --profile` shows where time goes",
    ),
    kiln("ManifestPassthrough", AnyMap),
    kiln("Program", Str),
    note("ProgramPath", Str, "ops uses it for attach/detach only"),
    kiln("RebootOnExit", Bool),
    kiln("RunConfig", Struct(RUN_CONFIG)),
    kiln("LocalFilesParentDirectory", Str),
    kiln("TargetRoot", Str),
    note(
        "TFSv4",
        Bool,
        "Kiln images have their own file system format",
    ),
    note("Version", Str, METADATA),
    note("Language", Str, METADATA),
    note("Description", Str, METADATA),
    note("VolumesDir", Str, "Kiln has no volumes yet"),
    note("PackageBaseURL", Str, NO_PACKAGES),
    note("PackageManifestURL", Str, NO_PACKAGES),
    // Kiln's own: the working directory (Nanos' manifest calls it `cwd`).
    kiln("Cwd", Str),
];

const NIC: &[Field] = &[
    block("IPAddress", Str),
    block("IPv6Address", Str),
    block("NetMask", Str),
    block("Gateway", Str),
    block("BridgeName", Str),
];

/// `RunConfig`: ops' 38 fields (VirtfsShares is not a JSON field in ops)
/// and `NameServers`, which older ops versions read here.
pub const RUN_CONFIG: &[Field] = &[
    kiln("Accel", Bool),
    kiln("AtExit", Str),
    kiln("Bridged", Bool),
    note(
        "BridgeIPAddress",
        Str,
        "kiln does not create bridges: put the tap device in one yourself",
    ),
    kiln("BridgeName", Str),
    note("CanIPForward", Bool, CLOUD),
    kiln("CPUs", Int),
    kiln("GPUs", Int),
    note("GPUType", Str, "Kiln has no GPU passthrough"),
    kiln("Debug", Bool),
    kiln("Gateway", Str),
    kiln("GdbPort", Int),
    note("ImageName", Str, METADATA),
    note("InstanceGroup", Str, METADATA),
    note("InstanceName", Str, METADATA),
    kiln("IPAddress", Str),
    kiln("IPv6Address", Str),
    note("Kernel", Str, NO_KERNEL),
    kiln("Memory", Str),
    note("Mgmt", Str, "kiln gives no QMP access"),
    note(
        "Vga",
        Bool,
        "the VM has no display; the console is kiln's terminal",
    ),
    kiln("Mounts", Strs),
    note("AttachVolumeOnInstanceCreate", Bool, CLOUD),
    kiln("NetMask", Str),
    note(
        "Nics",
        StructList(NIC),
        "a Proxmox setting: the VM has one network card, set with IPAddress, NetMask and Gateway",
    ),
    note(
        "Background",
        Bool,
        "kiln run stays in the foreground; use your shell's & or a service manager",
    ),
    note(
        "BackgroundDetach",
        Bool,
        "kiln run stays in the foreground; use your shell's & or a service manager",
    ),
    kiln("Ports", Strs),
    note("QMP", Bool, "kiln gives no QMP access"),
    note("ShowDebug", Bool, LOGGING),
    note("ShowErrors", Bool, LOGGING),
    note("ShowWarnings", Bool, LOGGING),
    note("JSON", Bool, "kiln prints text"),
    kiln("TapName", Str),
    kiln("UDPPorts", Strs),
    kiln("Verbose", Bool),
    note("VolumeSizeInGb", Int, CLOUD),
    note("ThreadsPerCore", Int, CLOUD),
    kiln("NameServers", Strs),
];

const ROOT_VOLUME: &[Field] = &[
    block("name", Str),
    block("iops", Int),
    block("size", Int),
    block("throughput", Int),
    block("typeof", Str),
];

const TAG_ATTRIBUTE: &[Field] = &[
    block("image_label", Bool),
    block("instance_label", Bool),
    block("instance_network", Bool),
    block("instance_metadata", Bool),
];

const TAG: &[Field] = &[
    block("key", Str),
    block("value", Str),
    block("attribute", Struct(TAG_ATTRIBUTE)),
];

/// `CloudConfig`: ops' 23 fields, all for its cloud deploys.
pub const CLOUD_CONFIG: &[Field] = &[
    block("BucketName", Str),
    block("BucketNamespace", Str),
    block("ConfidentialVM", Bool),
    block("DedicatedHostID", Str),
    block("DomainName", Str),
    block("StaticIP", Str),
    block("EnableIPv6", Bool),
    block("Flavor", Str),
    block("ImageType", Str),
    block("ImageName", Str),
    block("InstanceProfile", Str),
    block("KMS", Str),
    block("Platform", Str),
    block("ProjectID", Str),
    block("RootVolume", Struct(ROOT_VOLUME)),
    block("SecurityGroup", Str),
    block("SkipImportVerify", Bool),
    block("Spot", Bool),
    block("Subnet", Str),
    block("Tags", StructList(TAG)),
    block("UserData", Str),
    block("VPC", Str),
    block("Zone", Str),
];

/// The field of `table` that `key` names, as Go's encoding/json finds it:
/// an exact match first, else one that differs only in case.
pub fn lookup(table: &'static [Field], key: &str) -> Option<&'static Field> {
    table
        .iter()
        .find(|f| f.name == key)
        .or_else(|| table.iter().find(|f| f.name.eq_ignore_ascii_case(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_field_counts() {
        // ops' types/config.go: 38 + 38 + 23 fields (plus Kiln's Cwd and
        // RunConfig.NameServers).
        assert_eq!(CONFIG.len(), 38 + 1);
        assert_eq!(RUN_CONFIG.len(), 38 + 1);
        assert_eq!(CLOUD_CONFIG.len(), 23);
        for t in [CONFIG, RUN_CONFIG, CLOUD_CONFIG] {
            for (i, f) in t.iter().enumerate() {
                assert!(
                    t[..i].iter().all(|g| !g.name.eq_ignore_ascii_case(f.name)),
                    "{} twice",
                    f.name
                );
            }
        }
    }
}
