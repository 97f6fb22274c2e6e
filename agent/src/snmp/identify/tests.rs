//! Identification table tests on hand-written devices (typical values of each kind of gear,
//! written for these tests; no third-party device dumps).

use parc_shared::snmp::*;

use super::*;

/// A device described by the evidence identification looks at.
#[derive(Default, Clone)]
struct Fixture {
    descr: &'static str,
    object_id: &'static str,
    sections: &'static [&'static str],
    bridge_ports: Option<u32>,
    forwarding: Option<bool>,
    ip_interfaces: u32,
    if_types: &'static [(u32, usize)],
    chassis: Option<(&'static str, &'static str, &'static str)>,
    printer: Option<(&'static str, &'static str)>,
    ups: Option<(&'static str, &'static str)>,
}

impl Fixture {
    fn device(&self) -> SnmpDevice {
        let has = |s: &str| self.sections.contains(&s);
        let mut d = SnmpDevice {
            system: SnmpSystem {
                descr: Some(self.descr.into()),
                object_id: Some(self.object_id.into()).filter(|o: &String| !o.is_empty()),
                ..Default::default()
            },
            ip_forwarding: self.forwarding,
            ..Default::default()
        };
        if has("host_resources") {
            d.host = Some(HostResources::default());
        }
        if has("lldp") {
            d.lldp_neighbors.push(LldpNeighbor::default());
        }
        if self.bridge_ports.is_some() {
            d.bridge = Some(BridgeInfo {
                num_ports: self.bridge_ports,
                forwarding: vec![],
            });
        }
        for i in 0..self.ip_interfaces {
            d.ip_addresses.push(SnmpIpAddress {
                ip: format!("10.0.{i}.1"),
                if_index: Some(i + 1),
                netmask: None,
            });
        }
        d.ip_addresses.push(SnmpIpAddress {
            ip: "127.0.0.1".into(),
            if_index: Some(999),
            netmask: None,
        });
        let mut index = 0;
        for &(if_type, count) in self.if_types {
            for _ in 0..count {
                index += 1;
                d.interfaces.push(SnmpInterface {
                    index,
                    if_type: Some(if_type),
                    ..Default::default()
                });
            }
        }
        if let Some((model, serial, software)) = self.chassis {
            d.chassis = Some(EntityChassis {
                model: Some(model.into()),
                serial: Some(serial.into()),
                software_rev: Some(software.into()).filter(|s: &String| !s.is_empty()),
                ..Default::default()
            });
        }
        if let Some((model, serial)) = self.printer.or(has("printer").then_some(("", ""))) {
            d.printer = Some(PrinterInfo {
                model: Some(model.into()).filter(|s: &String| !s.is_empty()),
                serial: Some(serial.into()).filter(|s: &String| !s.is_empty()),
                page_count: Some(1234),
                supplies: vec![],
            });
        }
        if let Some((maker, model)) = self.ups {
            d.ups = Some(UpsInfo {
                manufacturer: Some(maker.into()),
                model: Some(model.into()),
                ..Default::default()
            });
        }
        d
    }
}

struct Want {
    device_type: DeviceType,
    vendor: Option<&'static str>,
    model: Option<&'static str>,
    serial: Option<&'static str>,
    firmware: Option<&'static str>,
}

fn want(device_type: DeviceType, vendor: Option<&'static str>) -> Want {
    Want {
        device_type,
        vendor,
        model: None,
        serial: None,
        firmware: None,
    }
}

#[test]
fn builtin_rules_are_valid() {
    let rules = Rules::parse(RULES_TOML, ENTERPRISES_TSV).unwrap_or_else(|p| panic!("{p:#?}"));
    assert!(rules.enterprise_count() >= 80);
    for (number, vendor) in [
        (9, "Cisco"),
        (11, "HP"),
        (318, "APC"),
        (8072, "Net-SNMP"),
        (12356, "Fortinet"),
        (41112, "Ubiquiti"),
    ] {
        assert_eq!(rules.vendor_of(number), Some(vendor));
    }
}

#[test]
fn identifies_each_kind_of_device() {
    use DeviceType::*;
    let cases: Vec<(&str, Fixture, Want)> = vec![
        (
            "laser printer answering Printer-MIB and HOST-RESOURCES",
            Fixture {
                descr: "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI24090012",
                object_id: "1.3.6.1.4.1.11.2.3.9.1",
                sections: &["printer", "host_resources"],
                printer: Some(("HP LaserJet Pro M404dn", "PHBBK12345")),
                if_types: &[(6, 1), (24, 1)],
                ..Default::default()
            },
            Want {
                model: Some("HP LaserJet Pro M404dn"),
                serial: Some("PHBBK12345"),
                ..want(Printer, Some("HP"))
            },
        ),
        (
            "printer of an unknown maker, known by its MIB alone",
            Fixture {
                descr: "NPI 4.2",
                object_id: "1.3.6.1.4.1.424242.1",
                sections: &["printer"],
                ..Default::default()
            },
            want(Printer, None),
        ),
        (
            "multifunction copier by keyword and vendor",
            Fixture {
                descr: "KONICA MINOLTA bizhub C300i",
                object_id: "1.3.6.1.4.1.18334.1.1.1.2.1.125.2.1",
                ..Default::default()
            },
            Want {
                model: Some("bizhub C300i"),
                ..want(Printer, Some("Konica Minolta"))
            },
        ),
        (
            "label printer",
            Fixture {
                descr: "ZTC ZT410-203dpi ZPL",
                object_id: "1.3.6.1.4.1.10642.1.1",
                ..Default::default()
            },
            want(Printer, Some("Zebra")),
        ),
        (
            "UPS answering UPS-MIB",
            Fixture {
                descr: "Network Management Card for UPS",
                object_id: "1.3.6.1.4.1.534.1",
                sections: &["ups"],
                ups: Some(("EATON", "9PX 3000i")),
                ..Default::default()
            },
            Want {
                model: Some("9PX 3000i"),
                ..want(Ups, Some("Eaton"))
            },
        ),
        (
            "UPS of an unlisted maker by UPS-MIB",
            Fixture {
                descr: "SNMP agent",
                object_id: "1.3.6.1.4.1.424242.7",
                ups: Some(("ACME Power", "Line 1500")),
                ..Default::default()
            },
            Want {
                model: Some("Line 1500"),
                ..want(Ups, Some("ACME Power"))
            },
        ),
        (
            "rack PDU by vendor number alone",
            Fixture {
                descr: "APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.5.6 MN:AP8959EU3)",
                object_id: "1.3.6.1.4.1.318.1.3.4.6",
                ..Default::default()
            },
            want(Ups, Some("APC")),
        ),
        (
            "access switch: bridge with many ports, ENTITY chassis",
            Fixture {
                descr: "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(2)E7, RELEASE SOFTWARE (fc3)",
                object_id: "1.3.6.1.4.1.9.1.1208",
                sections: &["entity", "lldp"],
                bridge_ports: Some(52),
                forwarding: Some(false),
                ip_interfaces: 1,
                if_types: &[(6, 52), (53, 3), (24, 1)],
                chassis: Some(("WS-C2960X-48FPD-L", "FOC1234X0AB", "15.2(2)E7")),
                ..Default::default()
            },
            Want {
                model: Some("WS-C2960X-48FPD-L"),
                serial: Some("FOC1234X0AB"),
                firmware: Some("15.2(2)E7"),
                ..want(Switch, Some("Cisco"))
            },
        ),
        (
            "layer-3 switch routing between VLANs stays a switch",
            Fixture {
                descr: "Aruba JL256A 2930F-48G-PoE+-4SFP+ Switch, revision WC.16.10.0012, ROM WC.16.01.0008",
                object_id: "1.3.6.1.4.1.11.2.3.7.11.160",
                bridge_ports: Some(52),
                forwarding: Some(true),
                ip_interfaces: 12,
                if_types: &[(6, 52), (53, 12)],
                ..Default::default()
            },
            Want {
                firmware: Some("WC.16.10.0012"),
                ..want(Switch, Some("HP"))
            },
        ),
        (
            "switch of an unlisted vendor by structure alone",
            Fixture {
                descr: "L2 Managed Device",
                object_id: "1.3.6.1.4.1.424242.3",
                bridge_ports: Some(28),
                if_types: &[(6, 28)],
                ..Default::default()
            },
            want(Switch, None),
        ),
        (
            "branch router",
            Fixture {
                descr: "Cisco IOS Software [Fuji], ISR Software (X86_64_LINUX_IOSD-UNIVERSALK9-M), Version 16.9.4, RELEASE SOFTWARE (fc2)",
                object_id: "1.3.6.1.4.1.9.1.2068",
                forwarding: Some(true),
                ip_interfaces: 3,
                if_types: &[(6, 3), (24, 1)],
                ..Default::default()
            },
            Want {
                firmware: Some("16.9.4"),
                ..want(Router, Some("Cisco"))
            },
        ),
        (
            "router of an unlisted vendor by forwarding alone",
            Fixture {
                descr: "Embedded OS",
                object_id: "1.3.6.1.4.1.424242.9",
                forwarding: Some(true),
                ip_interfaces: 4,
                if_types: &[(6, 4)],
                ..Default::default()
            },
            want(Router, None),
        ),
        (
            "MikroTik",
            Fixture {
                descr: "RouterOS CCR1009-7G-1C-1S+",
                object_id: "1.3.6.1.4.1.14988.1",
                forwarding: Some(true),
                ip_interfaces: 2,
                if_types: &[(6, 9)],
                ..Default::default()
            },
            want(Router, Some("MikroTik")),
        ),
        (
            "firewall that also forwards",
            Fixture {
                descr: "FortiGate-60F",
                object_id: "1.3.6.1.4.1.12356.101.1.1004",
                forwarding: Some(true),
                ip_interfaces: 5,
                if_types: &[(6, 10)],
                ..Default::default()
            },
            want(Firewall, Some("Fortinet")),
        ),
        (
            "Cisco ASA by keyword",
            Fixture {
                descr: "Cisco Adaptive Security Appliance Version 9.8(4)",
                object_id: "1.3.6.1.4.1.9.1.2313",
                forwarding: Some(true),
                ip_interfaces: 3,
                ..Default::default()
            },
            Want {
                firmware: Some("9.8(4)"),
                ..want(Firewall, Some("Cisco"))
            },
        ),
        (
            "access point with radios",
            Fixture {
                descr: "ArubaOS (MODEL: 315), Version 8.6.0.4-8.6.0.4",
                object_id: "1.3.6.1.4.1.14823.1.2.104",
                if_types: &[(6, 2), (71, 2)],
                ..Default::default()
            },
            Want {
                firmware: Some("8.6.0.4-8.6.0.4"),
                ..want(Wireless, Some("Aruba"))
            },
        ),
        (
            "NAS running Linux and net-snmp is storage, not a computer",
            Fixture {
                descr: "Linux DiskStation 4.4.59+ #25426 SMP PREEMPT x86_64",
                object_id: "1.3.6.1.4.1.8072.3.2.10",
                sections: &["host_resources"],
                if_types: &[(6, 2), (24, 1)],
                ..Default::default()
            },
            want(Storage, Some("Net-SNMP")),
        ),
        (
            "NetApp filer",
            Fixture {
                descr: "NetApp Release 9.7P5: Tue Jun 23 10:10:10 UTC 2020",
                object_id: "1.3.6.1.4.1.789.2.5",
                ..Default::default()
            },
            want(Storage, Some("NetApp")),
        ),
        (
            "Linux server",
            Fixture {
                descr: "Linux db01 5.10.0-28-amd64 #1 SMP Debian 5.10.209-2 x86_64",
                object_id: "1.3.6.1.4.1.8072.3.2.10",
                sections: &["host_resources"],
                forwarding: Some(true),
                ip_interfaces: 3,
                if_types: &[(6, 3), (24, 1)],
                ..Default::default()
            },
            want(Computer, Some("Net-SNMP")),
        ),
        (
            "Windows server",
            Fixture {
                descr: "Hardware: Intel64 Family 6 Model 85 Stepping 7 AT/AT COMPATIBLE - Software: Windows Version 6.3 (Build 17763 Multiprocessor Free)",
                object_id: "1.3.6.1.4.1.311.1.1.3.1.3",
                sections: &["host_resources"],
                if_types: &[(6, 2), (24, 1), (131, 1)],
                ..Default::default()
            },
            Want {
                firmware: Some("6.3"),
                ..want(Computer, Some("Microsoft"))
            },
        ),
        (
            "server management controller",
            Fixture {
                descr: "Dell Out-of-band SNMP Agent for Remote Access Controller",
                object_id: "1.3.6.1.4.1.674.10892.5",
                ..Default::default()
            },
            want(Computer, Some("Dell")),
        ),
        (
            "IP camera",
            Fixture {
                descr: "Linux 4.9.206-axis8",
                object_id: "1.3.6.1.4.1.368.4",
                ..Default::default()
            },
            want(Camera, Some("Axis")),
        ),
        (
            "desk phone",
            Fixture {
                descr: "Cisco Systems, Inc. IP Phone CP-8845",
                object_id: "1.3.6.1.4.1.9.6.1.23.8845",
                ..Default::default()
            },
            want(Phone, Some("Cisco")),
        ),
        (
            "firewall describing itself as a router",
            Fixture {
                descr: "Juniper Networks, Inc. srx340 internet router, kernel JUNOS 19.4R3",
                object_id: "1.3.6.1.4.1.2636.1.1.1.2.135",
                forwarding: Some(true),
                ip_interfaces: 4,
                if_types: &[(6, 16)],
                ..Default::default()
            },
            want(Firewall, Some("Juniper")),
        ),
        (
            "BSD firewall appliance with HOST-RESOURCES",
            Fixture {
                descr: "pfSense fw1.example 2.7.2-RELEASE FreeBSD 14.0-CURRENT amd64",
                object_id: "1.3.6.1.4.1.12325.1.1.2.1.1",
                sections: &["host_resources"],
                forwarding: Some(true),
                ip_interfaces: 3,
                ..Default::default()
            },
            want(Firewall, None),
        ),
        (
            "data-centre switch",
            Fixture {
                descr: "Cisco NX-OS(tm) n9000, Software (n9000-dk9), Version 9.3(8), RELEASE SOFTWARE",
                object_id: "1.3.6.1.4.1.9.12.3.1.3.1812",
                forwarding: Some(true),
                ip_interfaces: 6,
                if_types: &[(6, 54), (135, 6)],
                ..Default::default()
            },
            Want {
                firmware: Some("9.3(8)"),
                ..want(Switch, Some("Cisco"))
            },
        ),
        (
            "Linux-based access point answering HOST-RESOURCES",
            Fixture {
                descr: "UAP-AC-Pro-Gen2 6.5.28.14491",
                object_id: "1.3.6.1.4.1.8072.3.2.10",
                sections: &["host_resources"],
                if_types: &[(6, 6)],
                ..Default::default()
            },
            want(Wireless, Some("Net-SNMP")),
        ),
        (
            "nothing to go on",
            Fixture {
                descr: "Embedded device",
                object_id: "1.3.6.1.4.1.424242.1",
                ..Default::default()
            },
            want(Other, None),
        ),
        (
            "print server writes its firmware as \"Firmware Ver.\"",
            Fixture {
                descr: "Brother NC-8900w, Firmware Ver.1.20  (22.07.14),MID 8C5-K7Y,FID 2",
                object_id: "1.3.6.1.4.1.2435.2.3.9.1",
                sections: &["printer", "host_resources"],
                if_types: &[(6, 1), (71, 1)],
                printer: Some(("Brother HL-L6400DW series", "E78012A4N352118")),
                ..Default::default()
            },
            Want {
                model: Some("Brother HL-L6400DW series"),
                serial: Some("E78012A4N352118"),
                firmware: Some("1.20"),
                ..want(Printer, Some("Brother"))
            },
        ),
        (
            "no sysObjectID at all: vendor from the description",
            Fixture {
                descr: "ProCurve J9085A Switch 2610-24, revision R.11.25, ROM R.10.06",
                object_id: "",
                ..Default::default()
            },
            Want {
                firmware: Some("R.11.25"),
                ..want(Switch, Some("HP"))
            },
        ),
    ];
    let rules = Rules::builtin();
    let mut failures = Vec::new();
    for (name, fixture, want) in cases {
        let got = identify_with(rules, &fixture.device());
        let expected = (
            want.device_type,
            want.vendor.map(str::to_string),
            want.model.map(str::to_string),
            want.serial.map(str::to_string),
            want.firmware.map(str::to_string),
        );
        let actual = (
            got.device_type,
            got.vendor.clone(),
            got.model.clone(),
            got.serial.clone(),
            got.firmware.clone(),
        );
        if expected != actual {
            failures.push(format!(
                "{name}:\n  want {expected:?}\n  got  {actual:?} (evidence {:?})",
                got.evidence
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn junk_serials_are_dropped() {
    let fixture = Fixture {
        descr: "switch",
        chassis: Some(("", "To be filled by O.E.M.", "")),
        ..Default::default()
    };
    let got = identify(&fixture.device());
    assert_eq!(got.serial, None);
    assert_eq!(got.model, None);
}

#[test]
fn evidence_names_the_deciding_rules() {
    let fixture = Fixture {
        descr: "Linux host",
        object_id: "1.3.6.1.4.1.8072.3.2.10",
        sections: &["host_resources"],
        ..Default::default()
    };
    let got = identify(&fixture.device());
    assert_eq!(got.device_type, DeviceType::Computer);
    assert_eq!(got.enterprise, Some(8072));
    assert_eq!(
        got.evidence,
        vec!["host-resources", "descr-general-os", "vendor-server-os"]
    );
}

#[test]
fn bad_rules_are_reported_all_at_once() {
    let bad = r#"
        threshold = 10
        [[rule]]
        name = "a"
        type = "toaster"
        score = 1
        descr = "("
        [[rule]]
        name = "b"
        type = "switch"
        score = 1
        [[rule]]
        name = "c"
        type = "switch"
        score = 1
        sections = ["nope"]
        [[model]]
        descr = "no group"
    "#;
    let problems = Rules::parse(bad, "9\tCisco\nx\ty\n9\tCisco again\n").unwrap_err();
    let all = problems.join("\n");
    for needle in [
        "unknown type \"toaster\"",
        "bad regex",
        "rule \"b\": no condition",
        "unknown section \"nope\"",
        "needs a (?P<value>",
        "line 2: expected",
        "line 3: 9 listed twice",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
}

#[test]
fn bad_vendor_gets_are_reported_all_at_once() {
    let bad = r#"
        threshold = 10
        [[vendor_get]]
        enterprise = 318
        field = "colour"
        oid = "1.3.6.1.4.1.318.1.1.1.1.1.1.0"
        [[vendor_get]]
        enterprise = 318
        field = "serial"
        oid = "1.3.6.1.4.1.534.1.1.6.0"
        [[vendor_get]]
        enterprise = 318
        field = "battery_status"
        oid = "1.3.6.1.4.1.318.1.1.1.2.1.1.0"
        [[vendor_get]]
        enterprise = 318
        field = "serial"
        oid = "1.3.6.1.4.1.318.1.1.1.1.2.3.0"
        transform = "ticks_to_seconds"
        [[vendor_get]]
        enterprise = 318
        field = "battery_charge"
        oid = "1.3.6.1.4.1.318.1.1.1.2.2.1.0"
        transform = "rot13"
        [[vendor_get]]
        enterprise = 318
        field = "battery_status"
        oid = "1.3.6.1.4.1.318.1.1.1.2.1.1.0"
        map = { x = 1 }
        [[vendor_get]]
        enterprise = 11
        field = "serial"
        oid = "not an oid"
        object_id_prefix = ["1.3.6.1.4.1.9."]
    "#;
    let problems = Rules::parse(bad, "318\tAPC\n").unwrap_err();
    let all = problems.join("\n");
    for needle in [
        "unknown field (known: manufacturer",
        "not under 1.3.6.1.4.1.318",
        "battery_status needs a map",
        "does not apply to serial",
        "unknown transform \"rot13\"",
        "map key \"x\" is not an integer",
        "invalid OID \"not an oid\"",
        "object_id_prefix \"1.3.6.1.4.1.9.\" is not under enterprise 11",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    let many: String = (0..=MAX_VENDOR_GETS_PER_ENTERPRISE)
        .map(|i| {
            format!(
                "[[vendor_get]]\nenterprise = 1347\nfield = \"model\"\noid = \"1.3.6.1.4.1.1347.{i}\"\n"
            )
        })
        .collect();
    let problems = Rules::parse(&format!("threshold = 1\n{many}"), "").unwrap_err();
    assert!(
        problems
            .join("\n")
            .contains("over the 24 one GET may carry"),
        "{problems:?}"
    );
}

/// The fields asked of the maker's MIB for a device, as "field oid" strings.
fn asked(device: &SnmpDevice) -> Vec<String> {
    Rules::builtin()
        .vendor_requests(device)
        .iter()
        .map(|g| format!("{} {}", g.field.as_str(), g.oid))
        .collect()
}

#[test]
fn the_makers_mib_is_asked_only_for_what_the_standard_ones_left_empty() {
    let with = |object_id: &str| SnmpDevice {
        system: SnmpSystem {
            object_id: Some(object_id.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let full_ups = UpsInfo {
        manufacturer: Some("EATON".into()),
        model: Some("Eaton 5PX 1500".into()),
        firmware: Some("01.20".into()),
        battery_status: Some(2),
        battery_charge: Some(96),
        battery_runtime_seconds: None,
    };
    let printer = |serial: &str| PrinterInfo {
        serial: Some(serial.into()).filter(|s: &String| !s.is_empty()),
        model: Some("HP LaserJet M507".into()),
        page_count: Some(1),
        supplies: vec![],
    };
    let apc_ups = [
        "model 1.3.6.1.4.1.318.1.1.1.1.1.1.0",
        "serial 1.3.6.1.4.1.318.1.1.1.1.2.3.0",
        "firmware 1.3.6.1.4.1.318.1.1.1.1.2.1.0",
        "manufacture_date 1.3.6.1.4.1.318.1.1.1.1.2.2.0",
        "battery_status 1.3.6.1.4.1.318.1.1.1.2.1.1.0",
        "battery_charge 1.3.6.1.4.1.318.1.1.1.2.2.1.0",
        "battery_runtime_seconds 1.3.6.1.4.1.318.1.1.1.2.2.3.0",
    ];
    let cases: Vec<(&str, SnmpDevice, Vec<&str>)> = vec![
        (
            "APC UPS without UPS-MIB: every APC object, the UPS ones first",
            with("1.3.6.1.4.1.318.1.3.2.12"),
            apc_ups.to_vec(),
        ),
        (
            "Eaton answering UPS-MIB: only the serial and runtime it lacks, no ePDU objects",
            SnmpDevice {
                ups: Some(full_ups.clone()),
                ..with("1.3.6.1.4.1.534.1")
            },
            vec![
                "serial 1.3.6.1.4.1.534.1.1.6.0",
                "battery_runtime_seconds 1.3.6.1.4.1.534.1.2.1.0",
            ],
        ),
        (
            "UPS-MIB with a runtime leaves nothing to ask but the serial",
            SnmpDevice {
                ups: Some(UpsInfo {
                    battery_runtime_seconds: Some(600),
                    ..full_ups.clone()
                }),
                ..with("1.3.6.1.4.1.534.1")
            },
            vec!["serial 1.3.6.1.4.1.534.1.1.6.0"],
        ),
        (
            "HP printer with a Printer-MIB serial: only the firmware",
            SnmpDevice {
                printer: Some(printer("CNB1234567")),
                ..with("1.3.6.1.4.1.11.2.3.9.1")
            },
            vec!["firmware 1.3.6.1.4.1.11.2.3.9.4.2.1.1.3.6.0"],
        ),
        (
            "HP printer whose serial is a placeholder: serial and firmware",
            SnmpDevice {
                printer: Some(printer("0000000000")),
                ..with("1.3.6.1.4.1.11.2.3.9.1")
            },
            vec![
                "serial 1.3.6.1.4.1.11.2.3.9.4.2.1.1.3.3.0",
                "firmware 1.3.6.1.4.1.11.2.3.9.4.2.1.1.3.6.0",
            ],
        ),
        (
            "HP switch: enterprise 11 but not the printer tree",
            with("1.3.6.1.4.1.11.2.3.7.11.181"),
            vec![],
        ),
        (
            "a switch with a full ENTITY chassis of a listed maker asks nothing",
            SnmpDevice {
                chassis: Some(EntityChassis {
                    serial: Some("VCF9Z04513".into()),
                    model: Some("M3655idn".into()),
                    software_rev: Some("2V9".into()),
                    ..Default::default()
                }),
                ..with("1.3.6.1.4.1.1347.41")
            },
            vec![],
        ),
        ("an unlisted maker", with("1.3.6.1.4.1.9.1.1208"), vec![]),
        ("no sysObjectID", SnmpDevice::default(), vec![]),
        (
            "a sysObjectID outside enterprises",
            with("1.3.6.1.2.1.33"),
            vec![],
        ),
    ];
    let mut failures = Vec::new();
    for (name, device, want) in cases {
        let got = asked(&device);
        let got: Vec<&str> = got.iter().map(String::as_str).collect();
        // The APC case lists its UPS objects; the PDU ones follow in the file.
        let got = if name.starts_with("APC") {
            got[..want.len().min(got.len())].to_vec()
        } else {
            got
        };
        if got != want {
            failures.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let apc = asked(&with("1.3.6.1.4.1.318.1.3.4.5"));
    assert!(
        apc.iter()
            .any(|a| a == "serial 1.3.6.1.4.1.318.1.1.12.1.6.0"),
        "rack PDU serial asked too: {apc:?}"
    );
    assert!(apc.len() <= MAX_VENDOR_GETS_PER_ENTERPRISE);
}

#[test]
fn vendor_values_fill_only_what_the_standard_ones_left_empty() {
    let vendor = VendorMibFacts {
        enterprise: 534,
        manufacturer: Some("Eaton Corporation".into()),
        model: Some("5PX 1500i RT2U G2".into()),
        serial: Some("G118K27043".into()),
        firmware: Some("INV: 01.20.5099".into()),
        ..Default::default()
    };
    let standard = Fixture {
        descr: "Eaton 5PX",
        object_id: "1.3.6.1.4.1.534.1",
        ups: Some(("EATON", "Eaton 5PX 1500")),
        ..Default::default()
    };
    let mut d = standard.device();
    d.ups.as_mut().unwrap().firmware = Some("01.20.5099".into());
    d.vendor_mib = Some(vendor.clone());
    let got = identify(&d);
    assert_eq!(
        (
            got.device_type,
            got.model.as_deref(),
            got.serial.as_deref(),
            got.firmware.as_deref()
        ),
        (
            DeviceType::Ups,
            Some("Eaton 5PX 1500"),
            Some("G118K27043"),
            Some("01.20.5099")
        )
    );

    // Nothing standard at all: the maker's values, and its model counts for model rules.
    let bare = SnmpDevice {
        system: SnmpSystem {
            descr: Some("Embedded device".into()),
            object_id: Some("1.3.6.1.4.1.424242.1".into()),
            ..Default::default()
        },
        vendor_mib: Some(VendorMibFacts {
            enterprise: 424242,
            manufacturer: Some("ACME Power".into()),
            serial: Some("To be filled by O.E.M.".into()),
            ..vendor
        }),
        ..Default::default()
    };
    let got = identify(&bare);
    assert_eq!(got.vendor.as_deref(), Some("ACME Power"));
    assert_eq!(got.model.as_deref(), Some("5PX 1500i RT2U G2"));
    assert_eq!(
        got.serial, None,
        "a placeholder serial is dropped whatever its MIB"
    );
    assert_eq!(got.firmware.as_deref(), Some("INV: 01.20.5099"));
}
