//! Command-line flags the way spf13/pflag reads them for Dagger's dynamic
//! commands: flags stop at the first positional argument (`SetInterspersed
//! (false)`), names are normalized with `cliName` (`--stringArg` is
//! `--string-arg`), `--a=v` and `--a v` both work, a bool flag is bare
//! (`--flag`) or `--flag=false`, and pflag's own error messages.

use tanto_module::names::cli_name;

/// Whether a flag takes a value (`--a v`) or stands alone (`--flag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Bool,
    Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagSpec {
    /// The long name, in CLI case (`string-arg`).
    pub name: String,
    pub short: Option<char>,
    pub arity: Arity,
}

impl FlagSpec {
    pub fn new(name: impl Into<String>, arity: Arity) -> FlagSpec {
        FlagSpec { name: name.into(), short: None, arity }
    }

    pub fn short(mut self, c: char) -> FlagSpec {
        self.short = Some(c);
        self
    }
}

/// What a parse found: each flag set, with its raw values in order, and the
/// arguments left from the first positional one on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub set: Vec<(String, String)>,
    pub rest: Vec<String>,
}

impl Parsed {
    /// The raw values given for flag `name`, in order.
    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = name.to_string();
        self.set.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    pub fn changed(&self, name: &str) -> bool {
        self.set.iter().any(|(n, _)| n == name)
    }

    /// The last value given for `name` (a scalar flag's value).
    pub fn last(&self, name: &str) -> Option<&str> {
        self.values(name).last()
    }
}

/// Reads flags from `args` until the first positional argument (or `--`,
/// which is dropped). Unknown flags are an error unless `allow_unknown`,
/// in which case they are skipped with pflag's rule (a following argument
/// that does not start with `-` is taken as their value).
pub fn parse(specs: &[FlagSpec], args: &[String], allow_unknown: bool) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let s = &args[i];
        if s.len() < 2 || !s.starts_with('-') {
            break;
        }
        i += 1;
        if s == "--" {
            out.rest = args[i..].to_vec();
            return Ok(out);
        }
        if let Some(long) = s.strip_prefix("--") {
            if long.starts_with('-') || long.starts_with('=') {
                return Err(format!("bad flag syntax: {s}"));
            }
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let Some(spec) = specs.iter().find(|f| f.name == cli_name(name)) else {
                if !allow_unknown {
                    return Err(format!("unknown flag: --{name}"));
                }
                if inline.is_none() && i < args.len() && !args[i].starts_with('-') {
                    i += 1;
                }
                continue;
            };
            let value = match (inline, spec.arity) {
                (Some(v), _) => v,
                (None, Arity::Bool) => "true".to_string(),
                (None, Arity::Value) if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                (None, Arity::Value) => return Err(format!("flag needs an argument: {s}")),
            };
            out.set.push((spec.name.clone(), value));
            continue;
        }
        // One or more shorthands: `-j`, `-jo out`, `-oout`, `-o=out`.
        let shorts: Vec<char> = s[1..].chars().collect();
        let mut k = 0;
        while k < shorts.len() {
            let c = shorts[k];
            k += 1;
            let Some(spec) = specs.iter().find(|f| f.short == Some(c)) else {
                if !allow_unknown {
                    return Err(format!("unknown shorthand flag: '{c}' in {s}"));
                }
                // pflag skips the rest of this argument (and a value after it).
                if k == shorts.len() && i < args.len() && !args[i].starts_with('-') {
                    i += 1;
                }
                break;
            };
            let rest: String = shorts[k..].iter().collect();
            let value = if let Some(v) = rest.strip_prefix('=') {
                k = shorts.len();
                v.to_string()
            } else if spec.arity == Arity::Bool {
                "true".to_string()
            } else if !rest.is_empty() {
                k = shorts.len();
                rest
            } else if i < args.len() {
                i += 1;
                args[i - 1].clone()
            } else {
                return Err(format!("flag needs an argument: '{c}' in -{c}"));
            };
            out.set.push((spec.name.clone(), value));
        }
    }
    out.rest = args[i..].to_vec();
    Ok(out)
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, `0x`/`0o`/`0b`/`0`
/// prefixes, `_` between digits with a prefix.
pub fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    let digits = if radix != 10 { digits.replace('_', "") } else { digits };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(&digits, radix).ok()?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 {
            Some((magnitude as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// One record of Go's `encoding/csv` reader (the way pflag reads a
/// `StringSlice` value): fields split at commas, `"quoted, fields"` with
/// `""` for a quote; an empty value is no fields.
pub fn read_csv(s: &str) -> Result<Vec<String>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    // encoding/csv reads one record: the first line (unless quoted).
    let mut fields = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let column = |i: usize| i + 1;
    loop {
        let mut field = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                            column(i)
                        ))
                    }
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        field.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        field.push(c);
                        i += 1;
                    }
                }
            }
            match chars.get(i) {
                None | Some('\n') => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {
                    i += 1;
                    fields.push(field);
                    continue;
                }
                Some(_) => {
                    return Err(format!(
                        "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                        column(i)
                    ))
                }
            }
        }
        loop {
            match chars.get(i) {
                None | Some('\n') => {
                    fields.push(field.trim_end_matches('\r').to_string());
                    return Ok(fields);
                }
                Some(',') => {
                    i += 1;
                    fields.push(field);
                    break;
                }
                Some('"') => {
                    return Err(format!("parse error on line 1, column {}: bare \" in non-quoted-field", column(i)))
                }
                Some(&c) => {
                    field.push(c);
                    i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<FlagSpec> {
        vec![
            FlagSpec::new("name", Arity::Value),
            FlagSpec::new("string-arg", Arity::Value),
            FlagSpec::new("b", Arity::Value),
            FlagSpec::new("loud", Arity::Bool),
            FlagSpec::new("json", Arity::Bool).short('j'),
            FlagSpec::new("output", Arity::Value).short('o'),
        ]
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_like_pflag() {
        // (args, flags set, rest)
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case] = &[
            (&["--name=World"], &[("name", "World")], &[]),
            (&["--name", "Ada", "next"], &[("name", "Ada")], &["next"]),
            (&["--b", "-5"], &[("b", "-5")], &[]),
            (&["--b=-5"], &[("b", "-5")], &[]),
            (&["--stringArg=hi"], &[("string-arg", "hi")], &[]),
            (&["--string_arg=hi"], &[("string-arg", "hi")], &[]),
            (&["--loud", "x"], &[("loud", "true")], &["x"]),
            (&["--loud=false"], &[("loud", "false")], &[]),
            (&["-j", "-o", "out"], &[("json", "true"), ("output", "out")], &[]),
            (&["-jo", "out"], &[("json", "true"), ("output", "out")], &[]),
            (&["-oout"], &[("output", "out")], &[]),
            (&["-o=out"], &[("output", "out")], &[]),
            (&["fn", "--name=x"], &[], &["fn", "--name=x"]),
            (&["--name=a", "--", "--loud"], &[("name", "a")], &["--loud"]),
            (&["-", "x"], &[], &["-", "x"]),
            (&["--name=a", "--name=b"], &[("name", "a"), ("name", "b")], &[]),
        ];
        for (input, set, rest) in cases {
            let got = parse(&specs(), &args(input), false).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            let want_set: Vec<(String, String)> = set.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
            assert_eq!((got.set, got.rest), (want_set, args(rest)), "{input:?}");
        }
    }

    #[test]
    fn errors_like_pflag() {
        let cases: &[(&[&str], &str)] = &[
            (&["--nope=1"], "unknown flag: --nope"),
            (&["--nope"], "unknown flag: --nope"),
            (&["-x"], "unknown shorthand flag: 'x' in -x"),
            (&["--name"], "flag needs an argument: --name"),
            (&["-o"], "flag needs an argument: 'o' in -o"),
            (&["---a"], "bad flag syntax: ---a"),
        ];
        for (input, want) in cases {
            assert_eq!(parse(&specs(), &args(input), false), Err(want.to_string()), "{input:?}");
        }
    }

    #[test]
    fn unknown_flags_are_skipped_when_allowed() {
        // (args, rest): pflag's stripUnknownFlagValue takes a following non-flag as the value
        let cases: &[(&[&str], &[&str])] = &[
            (&["--prefix", ">>", "greet"], &["greet"]),
            (&["--prefix=>>", "greet"], &["greet"]),
            (&["--flag", "--name=x", "greet"], &["greet"]),
            (&["-m", "dir", "greet"], &["greet"]),
        ];
        for (input, rest) in cases {
            let got = parse(&specs(), &args(input), true).unwrap();
            assert_eq!(got.rest, args(rest), "{input:?}");
        }
    }

    #[test]
    fn scalars_parse_like_strconv() {
        let bools = [("true", Some(true)), ("T", Some(true)), ("1", Some(true)), ("False", Some(false)), ("yes", None)];
        for (s, want) in bools {
            assert_eq!(parse_bool(s), want, "{s}");
        }
        let ints = [
            ("12", Some(12)),
            ("-3", Some(-3)),
            ("+4", Some(4)),
            ("0x1f", Some(31)),
            ("0b101", Some(5)),
            ("0o17", Some(15)),
            ("017", Some(15)),
            ("0", Some(0)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("1.5", None),
            ("", None),
            ("abc", None),
            ("--1", None),
        ];
        for (s, want) in ints {
            assert_eq!(parse_int(s), want, "{s}");
        }
    }

    #[test]
    fn csv_reads_one_record() {
        let cases: &[(&str, Result<&[&str], &str>)] = &[
            ("", Ok(&[])),
            ("a,b,c", Ok(&["a", "b", "c"])),
            ("a", Ok(&["a"])),
            ("a,,b", Ok(&["a", "", "b"])),
            ("a,", Ok(&["a", ""])),
            ("\"x,y\",z", Ok(&["x,y", "z"])),
            ("\"say \"\"hi\"\"\"", Ok(&["say \"hi\""])),
            ("cat,/built.txt,/etc/alpine-release", Ok(&["cat", "/built.txt", "/etc/alpine-release"])),
            (" a , b", Ok(&[" a ", " b"])),
            ("a\"b", Err("parse error on line 1, column 2: bare \" in non-quoted-field")),
        ];
        for (input, want) in cases {
            let want = want.map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map_err(|e| e.to_string());
            assert_eq!(read_csv(input), want, "{input:?}");
        }
    }
}
