//! [`JobStore`] for [`SqliteStore`]: each method clones its arguments into a closure and runs
//! it on the writer (writes, including claims) or a reader (reads); the SQL is in
//! [`super::jobs`] and [`super::assets`].

use super::{Result, SqliteStore, assets, jobs};
use crate::AssetLineage;
use crate::jobs::{JobStore, check_claim};
use async_trait::async_trait;
use mlplane_core::{
    Asset, AssetFile, AssetKind, AssetVersionRef, Job, JobIo, JobName, JobQuery, JobStatus,
    NewAsset, NewJob, Page, PageRequest, WorkspaceName,
};

#[async_trait]
impl JobStore for SqliteStore {
    async fn create_job(&self, ws: &WorkspaceName, j: NewJob) -> Result<Job> {
        let ws = ws.clone();
        self.write("create_job", move |c| jobs::create_job(c, &ws, j))
            .await
    }

    async fn get_job(&self, ws: &WorkspaceName, name: &JobName) -> Result<Job> {
        let (ws, name) = (ws.clone(), name.clone());
        self.read("get_job", move |c| jobs::get_job(c, &ws, &name))
            .await
    }

    async fn list_jobs(
        &self,
        ws: &WorkspaceName,
        q: &JobQuery,
        page: &PageRequest,
    ) -> Result<Page<Job>> {
        let (ws, q, page, codec) = (ws.clone(), q.clone(), page.clone(), self.codec().clone());
        self.read("list_jobs", move |c| {
            jobs::list_jobs(c, &codec, &ws, &q, &page)
        })
        .await
    }

    async fn claim_next_job(&self, compute: &str, worker: &str) -> Result<Option<Job>> {
        check_claim(compute, worker)?;
        let (compute, worker) = (compute.to_string(), worker.to_string());
        self.write("claim_next_job", move |c| {
            jobs::claim_next(c, &compute, &worker)
        })
        .await
    }

    async fn transition_job(
        &self,
        ws: &WorkspaceName,
        name: &JobName,
        from: &[JobStatus],
        to: JobStatus,
        message: Option<String>,
    ) -> Result<Job> {
        let (ws, name, from) = (ws.clone(), name.clone(), from.to_vec());
        self.write("transition_job", move |c| {
            jobs::transition(c, &ws, &name, &from, to, message)
        })
        .await
    }

    async fn request_cancel(&self, ws: &WorkspaceName, name: &JobName) -> Result<Job> {
        let (ws, name) = (ws.clone(), name.clone());
        self.write("request_cancel", move |c| jobs::cancel(c, &ws, &name))
            .await
    }

    async fn unfinished_jobs(&self, compute: &str) -> Result<Vec<Job>> {
        let compute = compute.to_string();
        self.read("unfinished_jobs", move |c| jobs::unfinished(c, &compute))
            .await
    }

    async fn record_job_io(
        &self,
        ws: &WorkspaceName,
        name: &JobName,
        io: Vec<JobIo>,
    ) -> Result<()> {
        let (ws, name) = (ws.clone(), name.clone());
        self.write("record_job_io", move |c| {
            jobs::record_io(c, &ws, &name, &io)
        })
        .await
    }

    async fn job_io(&self, ws: &WorkspaceName, name: &JobName) -> Result<Vec<JobIo>> {
        let (ws, name) = (ws.clone(), name.clone());
        self.read("job_io", move |c| jobs::job_io(c, &ws, &name))
            .await
    }

    async fn asset_lineage(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
    ) -> Result<AssetLineage> {
        let (ws, name, version) = (ws.clone(), name.to_string(), version.to_string());
        self.read("asset_lineage", move |c| {
            jobs::lineage(c, &ws, kind, &name, &version)
        })
        .await
    }

    async fn create_asset(&self, ws: &WorkspaceName, a: NewAsset) -> Result<Asset> {
        let ws = ws.clone();
        self.write("create_asset", move |c| assets::create(c, &ws, &a))
            .await
    }

    async fn get_asset(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &AssetVersionRef,
    ) -> Result<Asset> {
        let (ws, name, version) = (ws.clone(), name.to_string(), version.clone());
        self.read("get_asset", move |c| {
            assets::get(c, &ws, kind, &name, &version)
        })
        .await
    }

    async fn list_assets(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        include_archived: bool,
        page: &PageRequest,
    ) -> Result<Page<Asset>> {
        let (ws, page, codec) = (ws.clone(), page.clone(), self.codec().clone());
        self.read("list_assets", move |c| {
            assets::list_latest(c, &codec, &ws, kind, include_archived, &page)
        })
        .await
    }

    async fn list_asset_versions(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        include_archived: bool,
        page: &PageRequest,
    ) -> Result<Page<Asset>> {
        let (ws, name, page, codec) = (
            ws.clone(),
            name.to_string(),
            page.clone(),
            self.codec().clone(),
        );
        self.read("list_asset_versions", move |c| {
            assets::list_versions(c, &codec, &ws, kind, &name, include_archived, &page)
        })
        .await
    }

    async fn set_asset_archived(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        archived: bool,
    ) -> Result<Asset> {
        let (ws, name, version) = (ws.clone(), name.to_string(), version.to_string());
        self.write("set_asset_archived", move |c| {
            assets::set_archived(c, &ws, kind, &name, &version, archived)
        })
        .await
    }

    async fn record_asset_file(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        file: AssetFile,
    ) -> Result<()> {
        let (ws, name, version) = (ws.clone(), name.to_string(), version.to_string());
        self.write("record_asset_file", move |c| {
            assets::record_file(c, &ws, kind, &name, &version, &file)
        })
        .await
    }

    async fn asset_files(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
    ) -> Result<Vec<AssetFile>> {
        let (ws, name, version) = (ws.clone(), name.to_string(), version.to_string());
        self.read("asset_files", move |c| {
            assets::files(c, &ws, kind, &name, &version)
        })
        .await
    }

    async fn complete_asset(
        &self,
        ws: &WorkspaceName,
        kind: AssetKind,
        name: &str,
        version: &str,
        storage_uri: &str,
    ) -> Result<Asset> {
        let (ws, name, version, uri) = (
            ws.clone(),
            name.to_string(),
            version.to_string(),
            storage_uri.to_string(),
        );
        self.write("complete_asset", move |c| {
            assets::complete(c, &ws, kind, &name, &version, &uri)
        })
        .await
    }
}
