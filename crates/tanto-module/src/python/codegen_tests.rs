use super::*;

fn module(json: &str) -> ModuleTypes {
    serde_json::from_str(json).expect("module types JSON")
}

fn greeter() -> ModuleTypes {
    module(include_str!("../../tests/data/greeter.types.json"))
}

fn my_mod() -> ModuleTypes {
    module(include_str!("../../tests/data/my-mod.types.json"))
}

#[test]
fn print() {
    println!("{}", bindings(&[greeter(), my_mod()]));
}
