//! Any S3-compatible store (AWS, Backblaze B2, Wasabi, MinIO, SeaweedFS…): its options, their
//! check, its `s3://` URL and its store (OpenDAL's S3 service).

use super::check::{Problem, http_url, normalize_prefix, problem};
use super::form::{Choice, Field, Form, Input, Preset, password, text};
use super::url_form::{Credentials, UrlForm, UrlParts};
use super::{DestinationOptions, Settings};
use crate::destinations::opendal_store::layered;
use crate::destinations::{Kind, Patience, Store, StoreError};
use crate::secret::Secret;
use opendal::Operator;
use serde::Deserialize;
use std::sync::Arc;
use url::Url;

/// An S3 bucket, as the options give it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    pub name: String,
    pub bucket: String,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Address buckets as `endpoint/bucket` instead of `bucket.endpoint`.
    #[serde(default)]
    pub path_style: Option<bool>,
    #[serde(default)]
    pub retention: Option<String>,
}

/// An S3 bucket, checked.
#[derive(Debug, Clone)]
pub struct S3Spec {
    pub bucket: String,
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub path_style: bool,
}

impl S3Options {
    /// The name and the settings, or `None` when they cannot make a destination.
    pub fn validate(self, at: &str, problems: &mut Vec<Problem>) -> Option<(String, S3Spec)> {
        if self.bucket.is_empty() || self.bucket.contains('/') {
            problems.push(problem(
                &format!("{at}.bucket"),
                "name the bucket, without slashes",
            ));
        }
        if let Some(e) = self.endpoint.as_deref().filter(|e| !e.is_empty()) {
            http_url(e, &format!("{at}.endpoint"), problems);
        }
        if self.access_key_id.is_empty() {
            problems.push(problem(
                &format!("{at}.access_key_id"),
                "the access key id is empty",
            ));
        }
        if self.secret_access_key.is_empty() {
            problems.push(problem(
                &format!("{at}.secret_access_key"),
                "the secret access key is empty",
            ));
        }
        let endpoint = self.endpoint.filter(|e| !e.is_empty());
        let region = self
            .region
            .filter(|r| !r.is_empty())
            .or_else(|| endpoint.as_deref().and_then(region_from_endpoint))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let spec = S3Spec {
            bucket: self.bucket,
            prefix: normalize_prefix(self.prefix.as_deref()),
            path_style: self.path_style.unwrap_or(endpoint.is_some()),
            endpoint,
            region,
            access_key_id: self.access_key_id,
            secret_access_key: self.secret_access_key,
        };
        Some((self.name, spec))
    }
}

/// Backblaze B2 (`s3.us-west-004.backblazeb2.com`) and Wasabi carry the region in the host name.
fn region_from_endpoint(endpoint: &str) -> Option<String> {
    let host = Url::parse(endpoint).ok()?.host_str()?.to_owned();
    let mut parts = host.split('.');
    let (first, second) = (parts.next()?, parts.next()?);
    (first == "s3" && (host.ends_with("backblazeb2.com") || host.ends_with("wasabisys.com")))
        .then(|| second.to_owned())
        .filter(|r| r.contains('-'))
}

impl Settings for S3Spec {
    fn kind(&self) -> Kind {
        Kind::S3
    }

    fn location(&self) -> String {
        format!(
            "s3://{}/{}{}",
            self.bucket,
            self.prefix,
            self.endpoint
                .as_deref()
                .map(|e| format!(" at {e}"))
                .unwrap_or_default()
        )
    }

    fn url(&self) -> String {
        let mut q = vec![format!("region={}", self.region)];
        if let Some(e) = &self.endpoint {
            q.push(format!("endpoint={e}"));
        }
        if !self.path_style {
            q.push("path_style=false".into());
        }
        format!(
            "s3://{}/{}?{}",
            self.bucket,
            self.prefix.trim_end_matches('/'),
            q.join("&")
        )
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.secret_access_key]
    }

    fn open(&self, patience: Patience) -> Result<Arc<dyn Store>, StoreError> {
        let mut builder = opendal::services::S3::default()
            .bucket(&self.bucket)
            .root(&format!("/{}", self.prefix))
            .region(&self.region)
            .access_key_id(&self.access_key_id)
            .secret_access_key(self.secret_access_key.expose())
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(endpoint) = &self.endpoint {
            builder = builder.endpoint(endpoint);
        }
        if !self.path_style {
            builder = builder.enable_virtual_host_style();
        }
        Ok(Arc::new(layered(
            Operator::new(builder),
            vec![self.secret_access_key.clone()],
            patience,
        )?))
    }
}

/// How the dashboard asks for an S3 bucket.
pub const FORM: Form = Form {
    kind: Kind::S3,
    title: "S3 bucket",
    blurb: "Amazon S3, Backblaze B2, Cloudflare R2, Wasabi, MinIO or any S3-compatible store.",
    fields: &[
        text(
            "bucket",
            "Bucket",
            "The bucket's name; make it first in the provider's console.",
            true,
            "ha-backups",
        ),
        text(
            "prefix",
            "Folder in the bucket",
            "Copies go under this folder; empty: the bucket's top.",
            false,
            "home/",
        ),
        text(
            "endpoint",
            "Endpoint",
            "The provider's S3 address; empty for Amazon S3. Choosing a provider above fills it.",
            false,
            "https://s3.us-west-004.backblazeb2.com",
        ),
        text(
            "region",
            "Region",
            "The bucket's region; empty: read from the endpoint, else us-east-1.",
            false,
            "us-east-1",
        ),
        text(
            "access_key_id",
            "Access key ID",
            "The key's ID (Backblaze: keyID).",
            true,
            "",
        ),
        password(
            "secret_access_key",
            "Secret access key",
            "The key's secret (Backblaze: applicationKey). Give the key the right to list, read, write and delete in this bucket only.",
            true,
        ),
        Field {
            name: "path_style",
            label: "Bucket address",
            help: "How the bucket is named in addresses; automatic works for most providers.",
            input: Input::Choice(&[
                Choice {
                    value: "",
                    label: "Automatic (path style when an endpoint is given)",
                },
                Choice {
                    value: "true",
                    label: "Path style: endpoint/bucket",
                },
                Choice {
                    value: "false",
                    label: "Virtual host: bucket.endpoint",
                },
            ]),
            required: false,
            placeholder: "",
        },
    ],
    presets: &PRESETS,
};

/// The providers whose settings fill the empty fields.
pub const PRESETS: [Preset; 5] = [
    Preset {
        id: "aws",
        label: "Amazon S3",
        endpoint: None,
        region: None,
        path_style: Some(false),
        note: "Give the bucket's region, like eu-central-1.",
    },
    Preset {
        id: "b2",
        label: "Backblaze B2",
        endpoint: Some("https://s3.<region>.backblazeb2.com"),
        region: None,
        path_style: None,
        note: "Give the bucket's region from its Endpoint, like us-west-004.",
    },
    Preset {
        id: "r2",
        label: "Cloudflare R2",
        endpoint: Some("https://<account id>.r2.cloudflarestorage.com"),
        region: Some("auto"),
        path_style: None,
        note: "Put your Cloudflare account ID in the endpoint.",
    },
    Preset {
        id: "wasabi",
        label: "Wasabi",
        endpoint: Some("https://s3.<region>.wasabisys.com"),
        region: None,
        path_style: None,
        note: "Give the bucket's region, like eu-central-2.",
    },
    Preset {
        id: "minio",
        label: "MinIO",
        endpoint: Some("http://<host>:9000"),
        region: None,
        path_style: Some(true),
        note: "Put the MinIO server's name or address in the endpoint.",
    },
];

/// `s3://bucket/prefix?endpoint=…&region=…&path_style=…`.
pub const URL_FORM: UrlForm = UrlForm {
    schemes: &["s3"],
    word: "s3",
    query: &["name", "endpoint", "region", "path_style", "keep"],
    read: from_url,
};

fn from_url(mut parts: UrlParts, creds: &Credentials) -> Result<DestinationOptions, Problem> {
    let path_style = match parts.query.get("path_style").map(String::as_str) {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(v) => return Err(parts.bad(format!("path_style={v:?} must be true or false"))),
    };
    Ok(DestinationOptions::S3(S3Options {
        name: parts.name,
        bucket: parts.host,
        prefix: Some(parts.path),
        endpoint: parts.query.remove("endpoint"),
        region: parts.query.remove("region"),
        access_key_id: creds.s3_access_key_id.clone().unwrap_or_default(),
        secret_access_key: creds
            .s3_secret_access_key
            .clone()
            .unwrap_or_else(|| Secret::new("")),
        path_style,
        retention: parts.retention,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn preset(id: &str, given: &[(&str, &str)]) -> (BTreeMap<String, String>, Vec<&'static str>) {
        let mut v: BTreeMap<String, String> = given
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let p = FORM.preset(id).unwrap();
        let problems = p.fill(&mut v).into_iter().map(|(f, _)| f).collect();
        (v, problems)
    }

    #[test]
    fn a_preset_fills_the_empty_fields_only() {
        let (v, p) = preset("b2", &[("region", "us-west-004")]);
        assert_eq!(v["endpoint"], "https://s3.us-west-004.backblazeb2.com");
        assert!(p.is_empty());
        let (_, p) = preset("b2", &[]);
        assert_eq!(p, ["region"], "B2 needs the region to make its endpoint");
        let (v, p) = preset("r2", &[]);
        assert_eq!(v["region"], "auto");
        assert_eq!(p, ["endpoint"], "the account id is the person's to fill");
        let (v, p) = preset(
            "r2",
            &[("endpoint", "https://abc.r2.cloudflarestorage.com")],
        );
        assert_eq!(v["endpoint"], "https://abc.r2.cloudflarestorage.com");
        assert!(p.is_empty());
        let (v, _) = preset("wasabi", &[("region", "eu-central-2")]);
        assert_eq!(v["endpoint"], "https://s3.eu-central-2.wasabisys.com");
        let (v, p) = preset("minio", &[("endpoint", "http://10.0.0.5:9000")]);
        assert_eq!(
            (v["endpoint"].as_str(), v["path_style"].as_str()),
            ("http://10.0.0.5:9000", "true")
        );
        assert!(p.is_empty());
        let (v, p) = preset("aws", &[("region", "eu-central-1"), ("path_style", "")]);
        assert!(!v.contains_key("endpoint") && p.is_empty());
        assert_eq!(v["path_style"], "false");
    }
}
