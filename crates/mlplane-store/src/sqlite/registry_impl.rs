//! [`ModelRegistry`] for [`SqliteStore`]: each method clones its arguments into a closure
//! and runs it on the writer (writes) or a reader (reads); the SQL is in [`super::registry`].

use super::{Result, SqliteStore, registry};
use crate::registry::{ModelRegistry, RegistryQuery};
use async_trait::async_trait;
use mlplane_core::registry::{
    ModelVersion, NewModelVersion, NewRegisteredModel, RegisteredModel, Stage,
};
use mlplane_core::{Page, PageRequest, Tag, WorkspaceName};

#[async_trait]
impl ModelRegistry for SqliteStore {
    async fn create_registered_model(
        &self,
        ws: &WorkspaceName,
        m: NewRegisteredModel,
    ) -> Result<RegisteredModel> {
        let ws = ws.clone();
        self.write("create_registered_model", move |c| {
            registry::create_model(c, &ws, &m)
        })
        .await
    }
    async fn get_registered_model(
        &self,
        ws: &WorkspaceName,
        name: &str,
    ) -> Result<RegisteredModel> {
        let (ws, name) = (ws.clone(), name.to_string());
        self.read("get_registered_model", move |c| {
            registry::get_model(c, &ws, &name)
        })
        .await
    }
    async fn rename_registered_model(
        &self,
        ws: &WorkspaceName,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        let (ws, name, new_name) = (ws.clone(), name.to_string(), new_name.to_string());
        self.write("rename_registered_model", move |c| {
            registry::rename_model(c, &ws, &name, &new_name)
        })
        .await
    }
    async fn update_registered_model(
        &self,
        ws: &WorkspaceName,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel> {
        let (ws, name, description) = (ws.clone(), name.to_string(), description.to_string());
        self.write("update_registered_model", move |c| {
            registry::update_model(c, &ws, &name, &description)
        })
        .await
    }
    async fn delete_registered_model(&self, ws: &WorkspaceName, name: &str) -> Result<()> {
        let (ws, name) = (ws.clone(), name.to_string());
        self.write("delete_registered_model", move |c| {
            registry::delete_model(c, &ws, &name)
        })
        .await
    }
    async fn set_registered_model_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        tag: Tag,
    ) -> Result<()> {
        let (ws, name) = (ws.clone(), name.to_string());
        self.write("set_registered_model_tag", move |c| {
            registry::set_model_tag(c, &ws, &name, &tag)
        })
        .await
    }
    async fn delete_registered_model_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        key: &str,
    ) -> Result<()> {
        let (ws, name, key) = (ws.clone(), name.to_string(), key.to_string());
        self.write("delete_registered_model_tag", move |c| {
            registry::delete_model_tag(c, &ws, &name, &key)
        })
        .await
    }
    async fn set_model_alias(
        &self,
        ws: &WorkspaceName,
        name: &str,
        alias: &str,
        version: i64,
    ) -> Result<()> {
        let (ws, name, alias) = (ws.clone(), name.to_string(), alias.to_string());
        self.write("set_model_alias", move |c| {
            registry::set_alias(c, &ws, &name, &alias, version)
        })
        .await
    }
    async fn delete_model_alias(&self, ws: &WorkspaceName, name: &str, alias: &str) -> Result<()> {
        let (ws, name, alias) = (ws.clone(), name.to_string(), alias.to_string());
        self.write("delete_model_alias", move |c| {
            registry::delete_alias(c, &ws, &name, &alias)
        })
        .await
    }
    async fn get_model_version_by_alias(
        &self,
        ws: &WorkspaceName,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion> {
        let (ws, name, alias) = (ws.clone(), name.to_string(), alias.to_string());
        self.read("get_model_version_by_alias", move |c| {
            registry::version_by_alias(c, &ws, &name, &alias)
        })
        .await
    }
    async fn create_model_version(
        &self,
        ws: &WorkspaceName,
        v: NewModelVersion,
    ) -> Result<ModelVersion> {
        let ws = ws.clone();
        self.write("create_model_version", move |c| {
            registry::create_version(c, &ws, &v)
        })
        .await
    }
    async fn get_model_version(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
    ) -> Result<ModelVersion> {
        let (ws, name) = (ws.clone(), name.to_string());
        self.read("get_model_version", move |c| {
            registry::get_version(c, &ws, &name, version)
        })
        .await
    }
    async fn update_model_version(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        description: &str,
    ) -> Result<ModelVersion> {
        let (ws, name, description) = (ws.clone(), name.to_string(), description.to_string());
        self.write("update_model_version", move |c| {
            registry::update_version(c, &ws, &name, version, &description)
        })
        .await
    }
    async fn delete_model_version(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
    ) -> Result<()> {
        let (ws, name) = (ws.clone(), name.to_string());
        self.write("delete_model_version", move |c| {
            registry::delete_version(c, &ws, &name, version)
        })
        .await
    }
    async fn transition_model_version_stage(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        stage: Stage,
        archive_existing: bool,
    ) -> Result<ModelVersion> {
        let (ws, name) = (ws.clone(), name.to_string());
        self.write("transition_model_version_stage", move |c| {
            registry::transition_stage(c, &ws, &name, version, stage, archive_existing)
        })
        .await
    }
    async fn set_model_version_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        tag: Tag,
    ) -> Result<()> {
        let (ws, name) = (ws.clone(), name.to_string());
        self.write("set_model_version_tag", move |c| {
            registry::set_version_tag(c, &ws, &name, version, &tag)
        })
        .await
    }
    async fn delete_model_version_tag(
        &self,
        ws: &WorkspaceName,
        name: &str,
        version: i64,
        key: &str,
    ) -> Result<()> {
        let (ws, name, key) = (ws.clone(), name.to_string(), key.to_string());
        self.write("delete_model_version_tag", move |c| {
            registry::delete_version_tag(c, &ws, &name, version, &key)
        })
        .await
    }
    async fn latest_model_versions(
        &self,
        ws: &WorkspaceName,
        name: &str,
        stages: &[Stage],
    ) -> Result<Vec<ModelVersion>> {
        let (ws, name, stages) = (ws.clone(), name.to_string(), stages.to_vec());
        self.read("latest_model_versions", move |c| {
            registry::latest_versions(c, &ws, &name, &stages)
        })
        .await
    }
    async fn search_registered_models(
        &self,
        ws: &WorkspaceName,
        q: &RegistryQuery,
        page: &PageRequest,
    ) -> Result<Page<RegisteredModel>> {
        let (ws, q, page, codec) = (ws.clone(), q.clone(), page.clone(), self.codec().clone());
        self.read("search_registered_models", move |c| {
            registry::search_models(c, &codec, &ws, &q, &page)
        })
        .await
    }

    async fn search_model_versions(
        &self,
        ws: &WorkspaceName,
        q: &RegistryQuery,
        page: &PageRequest,
    ) -> Result<Page<ModelVersion>> {
        let (ws, q, page, codec) = (ws.clone(), q.clone(), page.clone(), self.codec().clone());
        self.read("search_model_versions", move |c| {
            registry::search_versions(c, &codec, &ws, &q, &page)
        })
        .await
    }
}
