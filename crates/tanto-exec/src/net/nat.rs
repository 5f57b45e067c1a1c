//! The iptables rules of one bridge: NAT to the outside, forwarding, and isolation from
//! the other tanto bridges (other engines' sessions). Every rule carries the comment
//! `tanto:<bridge>`, which is how teardown finds exactly this bridge's rules again, also
//! after a crash. Applied and removed atomically with `iptables-restore --noflush`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::ipnet::Ipv4Net;
use crate::runtime::find_binary;

/// The comment that marks the rules of bridge `bridge`.
pub(crate) fn tag(bridge: &str) -> String {
    format!("tanto:{bridge}")
}

/// `iptables-restore --noflush` input that installs the rules of `bridge` (subnet
/// `subnet`, part of the pool `pool` that all tanto bridges share).
///
/// FORWARD, top to bottom: traffic from this bridge to any other pool address is
/// dropped (isolation between sessions); traffic from this bridge is accepted (to the
/// outside, and between its own containers when bridged frames pass through iptables);
/// replies to it are accepted; anything else towards it is dropped. POSTROUTING
/// masquerades traffic that leaves through another interface.
pub(crate) fn install_rules(bridge: &str, subnet: &Ipv4Net, pool: &Ipv4Net) -> String {
    let c = format!("-m comment --comment {}", tag(bridge));
    // `-I FORWARD 1` puts each rule on top, so they are listed bottom-up.
    format!(
        "*filter\n\
         -I FORWARD 1 -o {bridge} {c} -j DROP\n\
         -I FORWARD 1 -o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED {c} -j ACCEPT\n\
         -I FORWARD 1 -i {bridge} {c} -j ACCEPT\n\
         -I FORWARD 1 -i {bridge} ! -o {bridge} -d {pool} {c} -j DROP\n\
         COMMIT\n\
         *nat\n\
         -A POSTROUTING -s {subnet} ! -o {bridge} {c} -j MASQUERADE\n\
         COMMIT\n"
    )
}

/// `iptables-restore --noflush` input that deletes every rule of `table` (as printed by
/// `iptables-save -t TABLE`) that carries `tag`; `None` when there is none.
pub(crate) fn deletion_rules(table: &str, saved: &str, tag: &str) -> Option<String> {
    let mut out = format!("*{table}\n");
    let mut any = false;
    for line in saved.lines() {
        let Some(rest) = line.strip_prefix("-A ") else {
            continue;
        };
        let marked = line
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w[0] == "--comment" && w[1].trim_matches('"') == tag);
        if marked {
            out.push_str("-D ");
            out.push_str(rest);
            out.push('\n');
            any = true;
        }
    }
    out.push_str("COMMIT\n");
    any.then_some(out)
}

fn tool(name: &str) -> Result<PathBuf, String> {
    find_binary(name).ok_or_else(|| format!("`{name}` is not installed (apt-get install iptables)"))
}

fn restore(input: &str) -> Result<(), String> {
    let bin = tool("iptables-restore")?;
    let mut child = Command::new(&bin)
        .args(["-w", "10", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running `{}`: {e}", bin.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(|e| format!("writing to iptables-restore: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("waiting for iptables-restore: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("iptables-restore failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Installs the rules of `bridge`.
pub(crate) fn install(bridge: &str, subnet: &Ipv4Net, pool: &Ipv4Net) -> Result<(), String> {
    restore(&install_rules(bridge, subnet, pool))
}

/// `iptables-restore --noflush` input that deletes exactly the rules
/// [`install_rules`] made (one process instead of listing both tables).
pub(crate) fn uninstall_rules(bridge: &str, subnet: &Ipv4Net, pool: &Ipv4Net) -> String {
    install_rules(bridge, subnet, pool)
        .lines()
        .map(|l| {
            if let Some(rest) = l.strip_prefix("-I FORWARD 1 ") {
                format!("-D FORWARD {rest}")
            } else if let Some(rest) = l.strip_prefix("-A ") {
                format!("-D {rest}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Removes the rules [`install`] made for `bridge`; when that fails (some are gone
/// already), every rule tagged for `bridge`.
pub(crate) fn uninstall(bridge: &str, subnet: &Ipv4Net, pool: &Ipv4Net) -> Result<(), String> {
    match restore(&uninstall_rules(bridge, subnet, pool)) {
        Ok(()) => Ok(()),
        Err(_) => remove(bridge).map(|_| ()),
    }
}

/// Removes every rule of `bridge`, whatever subnet it had. Returns how many tables had
/// rules of it.
pub(crate) fn remove(bridge: &str) -> Result<usize, String> {
    let save = tool("iptables-save")?;
    let tag = tag(bridge);
    let mut removed = 0;
    for table in ["filter", "nat"] {
        let out = Command::new(&save)
            .args(["-t", table])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("running `{}`: {e}", save.display()))?;
        if !out.status.success() {
            return Err(format!("iptables-save -t {table} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        if let Some(input) = deletion_rules(table, &String::from_utf8_lossy(&out.stdout), &tag) {
            restore(&input)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_text() {
        let got = install_rules("tanto3", &"10.87.3.0/24".parse().unwrap(), &"10.87.0.0/16".parse().unwrap());
        let c = "-m comment --comment tanto:tanto3";
        assert_eq!(
            got,
            format!(
                "*filter\n\
                 -I FORWARD 1 -o tanto3 {c} -j DROP\n\
                 -I FORWARD 1 -o tanto3 -m conntrack --ctstate RELATED,ESTABLISHED {c} -j ACCEPT\n\
                 -I FORWARD 1 -i tanto3 {c} -j ACCEPT\n\
                 -I FORWARD 1 -i tanto3 ! -o tanto3 -d 10.87.0.0/16 {c} -j DROP\n\
                 COMMIT\n*nat\n\
                 -A POSTROUTING -s 10.87.3.0/24 ! -o tanto3 {c} -j MASQUERADE\nCOMMIT\n"
            )
        );
    }

    #[test]
    fn uninstall_text() {
        let got = uninstall_rules("tanto3", &"10.87.3.0/24".parse().unwrap(), &"10.87.0.0/16".parse().unwrap());
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines.len(), 9);
        assert_eq!(lines[1], "-D FORWARD -o tanto3 -m comment --comment tanto:tanto3 -j DROP");
        assert_eq!(
            lines[7],
            "-D POSTROUTING -s 10.87.3.0/24 ! -o tanto3 -m comment --comment tanto:tanto3 -j MASQUERADE"
        );
        assert!(!got.contains("-I ") && !got.contains("-A "));
    }

    #[test]
    fn deletions_pick_only_the_tagged_rules() {
        let saved = "# Generated by iptables-save\n*nat\n:POSTROUTING ACCEPT [0:0]\n\
            -A POSTROUTING -s 10.88.0.0/16 -j MASQUERADE\n\
            -A POSTROUTING -s 10.87.3.0/24 ! -o tanto3 -m comment --comment tanto:tanto3 -j MASQUERADE\n\
            -A POSTROUTING -s 10.87.30.0/24 ! -o tanto30 -m comment --comment tanto:tanto30 -j MASQUERADE\n\
            -A POSTROUTING -m comment --comment \"tanto:tanto3\" -j ACCEPT\nCOMMIT\n";
        // (tag, expected)
        let cases = [
            (
                "tanto:tanto3",
                Some(
                    "*nat\n-D POSTROUTING -s 10.87.3.0/24 ! -o tanto3 -m comment --comment tanto:tanto3 -j MASQUERADE\n\
                     -D POSTROUTING -m comment --comment \"tanto:tanto3\" -j ACCEPT\nCOMMIT\n",
                ),
            ),
            ("tanto:tanto9", None),
        ];
        for (tag, want) in cases {
            assert_eq!(deletion_rules("nat", saved, tag).as_deref(), want, "{tag}");
        }
    }
}
