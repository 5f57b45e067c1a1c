//! Solving refs and reading their results.

use tanto_contract::fs::{ChangeLists, EntryStat, ExecOutput, SearchMatch, SearchOptions};
use tanto_contract::{EngineResult, Solve};
use tanto_model::Ref;

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
