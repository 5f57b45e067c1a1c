//! Regenerates `schema/dagger-v0.21.graphqls` from Dagger's reference v0.21.8 SDL.
//!
//! Usage: `cargo run -p tanto-api --example gen_schema -- <reference.graphqls> [<out.graphqls>]`
//! (the output defaults to this crate's `schema/dagger-v0.21.graphqls`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(reference) = args.next() else {
        eprintln!("usage: gen_schema <reference.graphqls> [<out.graphqls>]");
        return ExitCode::from(2);
    };
    let out =
        args.next().unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/schema/dagger-v0.21.graphqls").to_string());
    let src = match std::fs::read_to_string(&reference) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot read `{reference}`: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sdl = match tanto_api::schema::v021_view(&src) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot build the v0.21 view from `{reference}`: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = tanto_gql::Schema::parse(&sdl) {
        eprintln!("generated schema does not parse back: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(&out, sdl) {
        eprintln!("cannot write `{out}`: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!("wrote {out}");
    ExitCode::SUCCESS
}
