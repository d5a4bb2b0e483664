//! Writing reports: hand-written `Serialize` impls that write the current shape.
//!
//! Known fields come first, in the model's order, then the `extra` fields as they were read. An
//! `extra` key that names a known field being written is skipped, so the output never repeats a key.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::model::{Repo, Report, Summary};

impl Report {
    /// The report as compact JSON in the current shape, whatever shape it was read from.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a report always serialises: every map key is a string")
    }

    /// The report as indented JSON in the current shape, for files people read.
    pub fn to_json_pretty_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self)
            .expect("a report always serialises: every map key is a string")
    }

    /// Whether serialising writes the known field `key` (so an `extra` entry of that name is skipped).
    fn writes_field(&self, key: &str) -> bool {
        match key {
            "repos" => true,
            "timestamp" => self.timestamp.is_some(),
            "health_status" => self.health_status.is_some(),
            "summary" => self.summary.is_some(),
            "mitigation_actions" => !self.mitigation_actions.is_empty(),
            "local_git_root" => self.local_git_root.is_some(),
            "local_scan_active" => self.local_scan_active.is_some(),
            "github_user" => self.github_user.is_some(),
            _ => false,
        }
    }
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(timestamp) = &self.timestamp {
            map.serialize_entry("timestamp", timestamp)?;
        }
        if let Some(health) = &self.health_status {
            map.serialize_entry("health_status", health)?;
        }
        if let Some(summary) = &self.summary {
            map.serialize_entry("summary", summary)?;
        }
        map.serialize_entry("repos", &self.repos)?;
        if !self.mitigation_actions.is_empty() {
            map.serialize_entry("mitigation_actions", &self.mitigation_actions)?;
        }
        if let Some(root) = &self.local_git_root {
            map.serialize_entry("local_git_root", root)?;
        }
        if let Some(active) = &self.local_scan_active {
            map.serialize_entry("local_scan_active", active)?;
        }
        if let Some(user) = &self.github_user {
            map.serialize_entry("github_user", user)?;
        }
        for (key, value) in &self.extra {
            if !self.writes_field(key) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Repo {
    /// Whether serialising writes the known field `key` (so an `extra` entry of that name is skipped).
    fn writes_field(&self, key: &str) -> bool {
        match key {
            "name" | "status" => true,
            "clone_url" => self.clone_url.is_some(),
            "local_path" => self.local_path.is_some(),
            "remote_url" => self.remote_url.is_some(),
            "expected_url" => self.expected_url.is_some(),
            "dashboard_link" => self.dashboard_link.is_some(),
            "mitigation" => self.mitigation.is_some(),
            "file_status" => self.file_status.is_some(),
            _ => false,
        }
    }
}

impl Serialize for Repo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("status", &self.status)?;
        let texts = [
            ("clone_url", &self.clone_url),
            ("local_path", &self.local_path),
            ("remote_url", &self.remote_url),
            ("expected_url", &self.expected_url),
            ("dashboard_link", &self.dashboard_link),
            ("mitigation", &self.mitigation),
        ];
        for (key, value) in texts {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        if let Some(file_status) = &self.file_status {
            map.serialize_entry("file_status", file_status)?;
        }
        for (key, value) in &self.extra {
            if !self.writes_field(key) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Summary {
    /// The known count written under `key`, if `key` names one that serialising writes.
    fn writes_field(&self, key: &str) -> bool {
        match key {
            "total" | "missing" | "extra" | "dirty" | "clean" => true,
            "mismatched" => self.mismatched.is_some(),
            _ => false,
        }
    }
}

impl Serialize for Summary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("total", &self.total)?;
        map.serialize_entry("missing", &self.missing)?;
        map.serialize_entry("extra", &self.extra)?;
        map.serialize_entry("dirty", &self.dirty)?;
        if let Some(mismatched) = &self.mismatched {
            map.serialize_entry("mismatched", mismatched)?;
        }
        map.serialize_entry("clean", &self.clean)?;
        for (key, value) in &self.extra_counts {
            if !self.writes_field(key) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}
