//! Solving refs and reading their results.

use std::sync::Arc;
use tanto_contract::fs::{ChangeLists, EntryStat, ExecOutput, SearchMatch, SearchOptions};
use tanto_contract::{EngineResult, Solve};
use tanto_model::{Digest, Ref};

use super::{entry, not_found, EngineBackend};
use tanto_fs::Root;

use crate::worker::blocking;
use crate::EngineError;
use tanto_contract::Context as _;

#[async_trait::async_trait]
impl Solve for EngineBackend {
    async fn sync(&self, r: &Ref) -> EngineResult<()> {
        self.solver.solve(r.vertex.clone()).await.map(|_| ()).map_err(|e| (*e).clone())
    }

    async fn run_nested(
        &self,
        exec: &Ref,
        session: Arc<dyn tanto_contract::QueryHandler>,
        label: &str,
    ) -> EngineResult<ExecOutput> {
        let vertex = exec.vertex.clone();
        let op = vertex.exec().ok_or_else(|| EngineError::internal("run_nested: the ref is not an exec"))?;
        let worker = self.solver.worker().clone();
        // a function's runtime runs each time its result is not kept
        worker.run_log.note(&vertex, tanto_store::explain::Status::Never, None);
        // A step of its own in progress (never cached: every run is new).
        let step = Digest::of(uuid::Uuid::new_v4().as_bytes());
        let label = label.to_string();
        let progress = worker.progress.clone();
        let started = std::time::Instant::now();
        progress.on_event(&tanto_solver::Event::Started { key: step, label: label.clone() });
        // Dropped before the end (the caller went away): the step is cancelled.
        struct Cancel(Option<(crate::progress::Progress, Digest, String)>);
        impl Drop for Cancel {
            fn drop(&mut self) {
                if let Some((p, key, label)) = self.0.take() {
                    p.on_event(&tanto_solver::Event::Cancelled { key, label });
                }
            }
        }
        let mut cancel = Cancel(Some((progress.clone(), step, label.clone())));
        let run = async {
            let setup = self.setup_once(&vertex, op).await?;
            let crate::exec_setup::ExecResources { keep_alive, secret_files, used_secrets, services, .. } =
                setup.resources;
            let _cleanup = secret_files;
            let sink = progress.exec_sink(step, used_secrets.clone());
            let info =
                crate::nested::run_with_session(&worker.executor, setup.spec, sink, session, worker.max_request_bytes)
                    .await;
            drop((keep_alive, services));
            let info = info?;
            let combined = crate::secrets::scrub(&info.combined, &used_secrets);
            if !used_secrets.is_empty() {
                progress.output(step, &combined);
            }
            Ok::<_, EngineError>((info, used_secrets, combined))
        };
        let result = run.await;
        cancel.0 = None;
        let (info, used_secrets, combined) = match result {
            Ok(r) => r,
            Err(e) => {
                progress.on_event(&tanto_solver::Event::Failed { key: step, label, error: e.to_string() });
                return Err(e);
            }
        };
        let end = if info.exit_code == 0 {
            tanto_solver::Event::Done { key: step, label, duration: started.elapsed() }
        } else {
            let error = format!("exit code: {}", info.exit_code);
            tanto_solver::Event::Failed { key: step, label, error }
        };
        progress.on_event(&end);
        Ok(ExecOutput {
            exit_code: info.exit_code,
            stdout: crate::secrets::scrub(&info.stdout, &used_secrets),
            stderr: crate::secrets::scrub(&info.stderr, &used_secrets),
            combined,
        })
    }

    async fn run_terminal(&self, exec: &Ref) -> EngineResult<i32> {
        // No terminal: say so before anything runs.
        let tty = crate::terminal::UserTerminal::open()?;
        let vertex = exec.vertex.clone();
        let op = vertex.exec().ok_or_else(|| EngineError::internal("run_terminal: the ref is not an exec"))?;
        let worker = self.solver.worker().clone();
        let setup = self.setup_once(&vertex, op).await?;
        let crate::exec_setup::ExecResources { keep_alive, secret_files, services, .. } = setup.resources;
        let _cleanup = secret_files;
        let _paused = worker.progress.pause();
        let result = tty.run(&worker.executor, setup.spec).await;
        drop((keep_alive, services));
        result
    }

    async fn exec_output(&self, r: &Ref) -> EngineResult<ExecOutput> {
        let out = self.solver.solve(r.vertex.clone()).await.map_err(|e| (*e).clone())?;
        let meta = out.meta.as_ref().ok_or_else(|| EngineError::internal("the last exec has no output record"))?;
        Ok(ExecOutput {
            exit_code: meta.exit_code,
            stdout: meta.stdout.clone(),
            stderr: meta.stderr.clone(),
            combined: meta.combined.clone(),
        })
    }

    async fn read_file(&self, root: Option<&Ref>, path: &str) -> EngineResult<Vec<u8>> {
        let p = path.to_string();
        self.with_root(root, move |r| r.read_file(&p).map_err(|e| not_found(&p, e))).await
    }

    async fn read_dir(&self, root: Option<&Ref>, path: &str) -> EngineResult<Vec<EntryStat>> {
        let p = path.to_string();
        self.with_root(root, move |r| {
            let entries = r.read_dir(&p).map_err(|e| not_found(&p, e))?;
            Ok(entries.into_iter().map(|(name, st)| entry(name, &st)).collect())
        })
        .await
    }

    async fn stat(&self, root: Option<&Ref>, path: &str, no_follow: bool) -> EngineResult<Option<EntryStat>> {
        let p = path.to_string();
        self.with_root(root, move |r| {
            let st = r.stat(&p, !no_follow).map_err(|e| not_found(&p, e))?;
            Ok(st.map(|st| entry(tanto_fs::path::base_name(&p), &st)))
        })
        .await
    }

    async fn glob(&self, root: Option<&Ref>, path: &str, pattern: &str) -> EngineResult<Vec<String>> {
        let (p, pat) = (path.to_string(), pattern.to_string());
        self.with_root(root, move |r| tanto_fs::glob(r, &p, &pat).map_err(|e| not_found(&p, e))).await
    }

    async fn digest(&self, root: Option<&Ref>, path: &str, with_metadata: bool) -> EngineResult<String> {
        let p = path.to_string();
        self.with_root(root, move |r| tanto_fs::digest(r, &p, with_metadata).map_err(|e| not_found(&p, e))).await
    }

    async fn changes(
        &self,
        lower: Option<&Ref>,
        lower_path: &str,
        upper: Option<&Ref>,
        upper_path: &str,
    ) -> EngineResult<ChangeLists> {
        let (ls, us) = (self.snapshot(lower).await?, self.snapshot(upper).await?);
        let store = self.worker().store.clone();
        let (lp, up) = (lower_path.to_string(), upper_path.to_string());
        blocking(move || {
            let (lv, uv) = (store.view(ls.id, "/")?, store.view(us.id, "/")?);
            let open = |p: &std::path::Path| {
                Root::open(p).map_err(|e| EngineError::internal(format!("opening a snapshot: {e}")))
            };
            let c = tanto_fs::changes(&open(lv.path())?, &lp, &open(uv.path())?, &up)
                .context(format_args!("comparing `{up}` with `{lp}`"))?;
            Ok(ChangeLists { added: c.added, modified: c.modified, removed: c.removed })
        })
        .await
    }

    async fn search(&self, root: Option<&Ref>, path: &str, opts: &SearchOptions) -> EngineResult<Vec<SearchMatch>> {
        let (p, o) = (path.to_string(), opts.clone());
        self.with_root(root, move |r| Ok(crate::search::run(r, &p, &o)?)).await
    }
}

impl EngineBackend {
    /// The set-up of exec `vertex` for a run outside the solver (never
    /// cached): its inputs solved (and cached) as usual.
    async fn setup_once(
        &self,
        vertex: &tanto_model::Vertex,
        op: &tanto_model::ExecOp,
    ) -> EngineResult<crate::exec_setup::ExecSetup> {
        let inputs = futures::future::try_join_all(vertex.inputs.iter().map(|r| self.solver.solve(r.vertex.clone())))
            .await
            .map_err(|e| (*e).clone())?;
        let hostname = format!("tanto-{}", vertex.key().short(10));
        self.solver.worker().exec_setup(vertex, op, &hostname, &inputs).await
    }
}
