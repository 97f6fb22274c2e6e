//! Hardware identity from the DMI/SMBIOS tables the kernel exposes in /sys/class/dmi/id.
//!
//! No DMI directory (containers, Firecracker, most ARM boards) means `dmi_available = false`
//! and every field `None`. Vendor placeholders ("To be filled by O.E.M.", "System Product
//! Name") are dropped from the descriptive fields; serial and UUID are kept but flagged junk
//! by [`HardwareId`], so the collector can see them and still refuse to match on them.

use parc_shared::inventory::{Bios, Hardware};
use parc_shared::HardwareId;

use super::source::Root;

const DMI_DIR: &str = "/sys/class/dmi/id";

/// The DMI attributes read, as (file name, raw value); a missing file is simply absent.
pub type DmiFields = Vec<(&'static str, String)>;

pub fn gather(root: &Root) -> Hardware {
    if !root.exists(DMI_DIR) {
        tracing::debug!("no {DMI_DIR}: firmware tables not exposed");
        return Hardware::default();
    }
    let fields: DmiFields = [
        "sys_vendor",
        "product_name",
        "product_serial",
        "product_uuid",
        "chassis_type",
        "bios_vendor",
        "bios_version",
        "bios_date",
    ]
    .into_iter()
    // product_serial and product_uuid are root-only: unreadable is logged and left out.
    .filter_map(|f| root.read(&format!("{DMI_DIR}/{f}")).map(|v| (f, v)))
    .collect();
    from_dmi(&fields)
}

pub fn from_dmi(fields: &DmiFields) -> Hardware {
    let raw = |name: &str| {
        fields
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, v)| v.trim())
    };
    let text = |name: &str| raw(name).and_then(meaningful);
    let bios = Bios {
        vendor: text("bios_vendor"),
        version: text("bios_version"),
        date: text("bios_date"),
    };
    Hardware {
        manufacturer: text("sys_vendor"),
        model: text("product_name"),
        serial: raw("product_serial").and_then(HardwareId::serial),
        uuid: raw("product_uuid").and_then(HardwareId::uuid),
        chassis_type: raw("chassis_type")
            .and_then(|v| v.parse::<u8>().ok())
            .and_then(chassis_name)
            .map(str::to_string),
        bios: (bios != Bios::default()).then_some(bios),
        dmi_available: true,
    }
}

/// None for blank values and the placeholders boards ship in descriptive fields.
fn meaningful(value: &str) -> Option<String> {
    const PLACEHOLDERS: &[&str] = &[
        "to be filled by o.e.m.",
        "default string",
        "system manufacturer",
        "system product name",
        "system version",
        "not specified",
        "not applicable",
        "n/a",
        "none",
        "oem",
        "o.e.m.",
        "unknown",
    ];
    let v = value.trim();
    (!v.is_empty() && !PLACEHOLDERS.iter().any(|p| p.eq_ignore_ascii_case(v)))
        .then(|| v.to_string())
}

/// SMBIOS 3.x chassis types (DSP0134, table 17). 2 ("Unknown") is no information.
pub fn chassis_name(code: u8) -> Option<&'static str> {
    // The top bit is the "chassis lock present" flag, not part of the type.
    Some(match code & 0x7f {
        1 => "Other",
        3 => "Desktop",
        4 => "Low Profile Desktop",
        5 => "Pizza Box",
        6 => "Mini Tower",
        7 => "Tower",
        8 => "Portable",
        9 => "Laptop",
        10 => "Notebook",
        11 => "Hand Held",
        12 => "Docking Station",
        13 => "All in One",
        14 => "Sub Notebook",
        15 => "Space-saving",
        16 => "Lunch Box",
        17 => "Main Server Chassis",
        18 => "Expansion Chassis",
        19 => "SubChassis",
        20 => "Bus Expansion Chassis",
        21 => "Peripheral Chassis",
        22 => "RAID Chassis",
        23 => "Rack Mount Chassis",
        24 => "Sealed-case PC",
        25 => "Multi-system Chassis",
        26 => "Compact PCI",
        27 => "Advanced TCA",
        28 => "Blade",
        29 => "Blade Enclosure",
        30 => "Tablet",
        31 => "Convertible",
        32 => "Detachable",
        33 => "IoT Gateway",
        34 => "Embedded PC",
        35 => "Mini PC",
        36 => "Stick PC",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dmi(pairs: &[(&'static str, &str)]) -> DmiFields {
        pairs.iter().map(|(f, v)| (*f, format!("{v}\n"))).collect()
    }

    #[test]
    fn dell_optiplex() {
        let hw = from_dmi(&dmi(&[
            ("sys_vendor", "Dell Inc."),
            ("product_name", "OptiPlex 7090"),
            ("product_serial", "5CG1234XYZ"),
            ("product_uuid", "4C4C4544-0042-3510-8052-B4C04F4A4E32"),
            ("chassis_type", "3"),
            ("bios_vendor", "Dell Inc."),
            ("bios_version", "1.14.0"),
            ("bios_date", "09/13/2022"),
        ]));
        assert!(hw.dmi_available);
        assert_eq!(hw.manufacturer.as_deref(), Some("Dell Inc."));
        assert_eq!(hw.model.as_deref(), Some("OptiPlex 7090"));
        let serial = hw.serial.unwrap();
        assert_eq!((serial.value.as_str(), serial.junk), ("5CG1234XYZ", false));
        let uuid = hw.uuid.unwrap();
        assert_eq!(
            (uuid.value.as_str(), uuid.junk),
            ("4c4c4544-0042-3510-8052-b4c04f4a4e32", false)
        );
        assert_eq!(hw.chassis_type.as_deref(), Some("Desktop"));
        let bios = hw.bios.unwrap();
        assert_eq!(bios.version.as_deref(), Some("1.14.0"));
        assert_eq!(bios.date.as_deref(), Some("09/13/2022"));
    }

    #[test]
    fn white_box_junk_values() {
        let hw = from_dmi(&dmi(&[
            ("sys_vendor", "System manufacturer"),
            ("product_name", "System Product Name"),
            ("product_serial", "To Be Filled By O.E.M."),
            ("product_uuid", "03000200-0400-0500-0006-000700080009"),
            ("chassis_type", "2"),
            ("bios_vendor", "American Megatrends Inc."),
            ("bios_version", "  "),
        ]));
        assert!(hw.dmi_available);
        assert_eq!(hw.manufacturer, None);
        assert_eq!(hw.model, None);
        let serial = hw.serial.unwrap();
        assert!(serial.junk, "{serial:?}");
        assert!(hw.uuid.unwrap().junk);
        assert_eq!(hw.chassis_type, None, "type 2 means Unknown");
        let bios = hw.bios.unwrap();
        assert_eq!(bios.vendor.as_deref(), Some("American Megatrends Inc."));
        assert_eq!(bios.version, None, "blank is None, never an empty string");
    }

    #[test]
    fn unreadable_serial_and_uuid_are_none() {
        // What an unprivileged agent sees: the two root-only files are missing from the set.
        let hw = from_dmi(&dmi(&[
            ("sys_vendor", "LENOVO"),
            ("product_name", "20XW0055FR"),
            ("chassis_type", "10"),
        ]));
        assert_eq!(hw.serial, None);
        assert_eq!(hw.uuid, None);
        assert_eq!(hw.bios, None);
        assert_eq!(hw.chassis_type.as_deref(), Some("Notebook"));
    }

    #[test]
    fn chassis_codes() {
        let cases = [
            (3, Some("Desktop")),
            (10, Some("Notebook")),
            (23, Some("Rack Mount Chassis")),
            (0x83, Some("Desktop")),
            (2, None),
            (0, None),
            (99, None),
        ];
        for (code, want) in cases {
            assert_eq!(chassis_name(code), want, "{code}");
        }
    }

    #[test]
    fn no_dmi_directory_means_unavailable_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let hw = gather(&Root::at(dir.path()));
        assert_eq!(hw, Hardware::default());
        assert!(!hw.dmi_available);
    }

    #[test]
    fn dmi_directory_in_a_fake_root() {
        let dir = tempfile::tempdir().unwrap();
        let dmi_dir = dir.path().join("sys/class/dmi/id");
        std::fs::create_dir_all(&dmi_dir).unwrap();
        std::fs::write(dmi_dir.join("sys_vendor"), "QEMU\n").unwrap();
        std::fs::write(
            dmi_dir.join("product_uuid"),
            "00000000-0000-0000-0000-000000000000\n",
        )
        .unwrap();
        let hw = gather(&Root::at(dir.path()));
        assert!(hw.dmi_available);
        assert_eq!(hw.manufacturer.as_deref(), Some("QEMU"));
        assert!(hw.uuid.unwrap().junk);
        assert_eq!(hw.model, None);
    }
}
