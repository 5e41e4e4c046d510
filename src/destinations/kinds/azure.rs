//! Azure Blob Storage, with an account key or a SAS token: its options, their check, its
//! `azure://` URL and its store (OpenDAL's Azblob service).

use super::check::{Problem, http_url, non_empty_secret, normalize_prefix, problem};
use super::form::{Form, password, text};
use super::url_form::{Credentials, UrlForm, UrlParts};
use super::{DestinationOptions, Settings};
use crate::destinations::opendal_store::layered;
use crate::destinations::{Kind, Patience, Store, StoreError};
use crate::secret::Secret;
use opendal::Operator;
use serde::Deserialize;
use std::sync::Arc;

/// An Azure container, as the options give it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureOptions {
    pub name: String,
    pub account: String,
    pub container: String,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub account_key: Option<Secret>,
    #[serde(default)]
    pub sas_token: Option<Secret>,
    #[serde(default)]
    pub retention: Option<String>,
}

/// An Azure container, checked.
#[derive(Debug, Clone)]
pub struct AzureSpec {
    pub account: String,
    pub container: String,
    pub prefix: String,
    pub endpoint: String,
    pub credential: AzureCredential,
}

/// How Lifeboat signs in to Azure.
#[derive(Debug, Clone)]
pub enum AzureCredential {
    AccountKey(Secret),
    Sas(Secret),
}

impl AzureOptions {
    /// The name and the settings, or `None` when they cannot make a destination.
    pub fn validate(self, at: &str, problems: &mut Vec<Problem>) -> Option<(String, AzureSpec)> {
        if self.account.is_empty() {
            problems.push(problem(
                &format!("{at}.account"),
                "name the storage account",
            ));
        }
        if self.container.is_empty() || self.container.contains('/') {
            problems.push(problem(
                &format!("{at}.container"),
                "name the container, without slashes",
            ));
        }
        let endpoint = self
            .endpoint
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| format!("https://{}.blob.core.windows.net", self.account));
        http_url(&endpoint, &format!("{at}.endpoint"), problems);
        let credential = credential(self.account_key, self.sas_token, at, problems);
        let spec = AzureSpec {
            account: self.account,
            container: self.container,
            prefix: normalize_prefix(self.prefix.as_deref()),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            credential: credential?,
        };
        Some((self.name, spec))
    }
}

/// The one credential of an account key and a SAS token that is set.
fn credential(
    account_key: Option<Secret>,
    sas_token: Option<Secret>,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<AzureCredential> {
    match (non_empty_secret(account_key), non_empty_secret(sas_token)) {
        (Some(k), None) => Some(AzureCredential::AccountKey(k)),
        (None, Some(s)) => Some(AzureCredential::Sas(Secret::new(
            s.expose().trim_start_matches('?'),
        ))),
        (Some(_), Some(_)) => {
            problems.push(problem(
                &format!("{at}.sas_token"),
                "set either account_key or sas_token, not both",
            ));
            None
        }
        (None, None) => {
            problems.push(problem(
                &format!("{at}.account_key"),
                "set account_key (Access keys in the Azure portal) or sas_token",
            ));
            None
        }
    }
}

impl Settings for AzureSpec {
    fn kind(&self) -> Kind {
        Kind::Azure
    }

    fn location(&self) -> String {
        format!(
            "azure://{}/{}/{}",
            self.account, self.container, self.prefix
        )
    }

    fn url(&self) -> String {
        format!(
            "azure://{}/{}/{}?endpoint={}",
            self.account,
            self.container,
            self.prefix.trim_end_matches('/'),
            self.endpoint
        )
    }

    fn secrets(&self) -> Vec<&Secret> {
        match &self.credential {
            AzureCredential::AccountKey(s) | AzureCredential::Sas(s) => vec![s],
        }
    }

    fn open(&self, patience: Patience) -> Result<Arc<dyn Store>, StoreError> {
        let builder = opendal::services::Azblob::default()
            .container(&self.container)
            .root(&format!("/{}", self.prefix))
            .endpoint(&self.endpoint)
            .account_name(&self.account);
        let (builder, secret) = match &self.credential {
            AzureCredential::AccountKey(k) => (builder.account_key(k.expose()), k),
            AzureCredential::Sas(s) => (builder.sas_token(s.expose()), s),
        };
        Ok(Arc::new(layered(
            Operator::new(builder),
            vec![secret.clone()],
            patience,
        )?))
    }
}

/// How the dashboard asks for an Azure container.
pub const FORM: Form = Form {
    kind: Kind::Azure,
    title: "Azure Blob Storage",
    blurb: "A container in an Azure storage account, with an account key or a SAS token.",
    fields: &[
        text(
            "account",
            "Storage account",
            "The storage account's name.",
            true,
            "myhomebackups",
        ),
        text(
            "container",
            "Container",
            "The container's name; make it first in the Azure portal.",
            true,
            "ha-backups",
        ),
        text(
            "prefix",
            "Folder in the container",
            "Copies go under this folder; empty: the container's top.",
            false,
            "home/",
        ),
        password(
            "account_key",
            "Account key",
            "From Access keys in the Azure portal. Set this or a SAS token, not both.",
            false,
        ),
        password(
            "sas_token",
            "SAS token",
            "A token for this container that allows read, add, create, write, delete and list.",
            false,
        ),
        text(
            "endpoint",
            "Endpoint",
            "Empty for Azure itself (https://<account>.blob.core.windows.net); for Azurite or another cloud, its address.",
            false,
            "",
        ),
    ],
    presets: &[],
};

/// `azure://account/container/prefix?endpoint=…` (`azblob://` too).
pub const URL_FORM: UrlForm = UrlForm {
    schemes: &["azure", "azblob"],
    word: "azure",
    query: &["name", "endpoint", "keep"],
    read: from_url,
};

fn from_url(mut parts: UrlParts, creds: &Credentials) -> Result<DestinationOptions, Problem> {
    let (container, prefix) = parts.path.split_once('/').unwrap_or((&parts.path, ""));
    Ok(DestinationOptions::Azure(AzureOptions {
        account: parts.host,
        container: container.to_owned(),
        prefix: Some(prefix.to_owned()),
        endpoint: parts.query.remove("endpoint"),
        account_key: creds.azure_account_key.clone(),
        sas_token: creds.azure_sas_token.clone(),
        name: parts.name,
        retention: parts.retention,
    }))
}
