//! Hello, tanto, from the official Dagger Rust SDK.

#[tokio::main]
async fn main() -> eyre::Result<()> {
    dagger_sdk::connect(|client| async move {
        let src = client.directory().with_new_file("greeting.txt", "hello from tanto");
        let out = client
            .container()
            .from("busybox:1.36")
            .with_directory("/src", src)
            .with_workdir("/src")
            .with_exec(vec!["cat", "greeting.txt"])
            .stdout()
            .await?;
        println!("{out}");
        Ok(())
    })
    .await?;
    Ok(())
}
