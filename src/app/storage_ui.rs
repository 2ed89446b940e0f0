//! The project form's "Supabase Storage files" section: the S3 keys (the
//! secret always masked, never shown back), the REST API URL, the buckets,
//! and which access backups will use.

use crate::app::state::ProjectForm;
use crate::app::storage::StorageForm;
use crate::app::widgets::{LABEL_COLUMN, field, field_error};
use egui::{RichText, Ui};

/// Draws the section; returns true when a field changed.
pub fn storage_section(ui: &mut Ui, form: &mut ProjectForm) -> bool {
    let mut edited = false;
    ui.add_space(4.0);
    ui.separator();
    ui.label(RichText::new("Supabase Storage files").strong());
    ui.label(
        RichText::new(
            "Backed up with the database: S3 keys (Storage > S3 in the dashboard) when set, \
             else the REST API with the service key.",
        )
        .weak(),
    );
    let errors = if form.tried {
        form.errors.clone()
    } else {
        Default::default()
    };
    let derived = StorageForm::derived_url(&form.db_url);
    let st = &mut form.storage;
    let saved_key = st
        .saved
        .as_ref()
        .and_then(|v| v.s3.as_ref())
        .map(|s| s.access_key_id.clone());
    let secret_hint = if st.saved.as_ref().is_some_and(|v| v.kind == "s3") {
        "kept in the vault (empty keeps it)".to_string()
    } else {
        "the secret access key".to_string()
    };
    egui::Grid::new("storage_fields")
        .num_columns(2)
        .min_col_width(LABEL_COLUMN)
        .spacing([10.0, 6.0])
        .show(ui, |ui| {
            edited |= field(
                ui,
                "S3 endpoint",
                &mut st.endpoint,
                "https://<ref>.storage.supabase.co/storage/v1/s3",
                false,
            )
            .changed();
            field_error(ui, &errors, "storage_s3_endpoint");
            edited |= field(ui, "S3 region", &mut st.region, "eu-central-1", false).changed();
            field_error(ui, &errors, "storage_s3_region");
            let key_hint = match &saved_key {
                Some(k) => format!("kept: {k} (empty keeps it)"),
                None => "from Storage > S3".into(),
            };
            edited |= field(
                ui,
                "S3 access key id",
                &mut st.access_key_id,
                &key_hint,
                false,
            )
            .changed();
            field_error(ui, &errors, "storage_s3_access_key_id");
            // Always masked, whatever "Show secrets" says: it is never read
            // back from the vault, and what is typed is not shown either.
            edited |= field(ui, "S3 secret", &mut st.secret, &secret_hint, true).changed();
            field_error(ui, &errors, "storage_s3_secret");
            if saved_key.is_some() {
                ui.label("");
                edited |= ui
                    .checkbox(
                        &mut st.remove_s3,
                        "Stop using the S3 keys (remove them and the sealed secret)",
                    )
                    .changed();
                ui.end_row();
            }
            let url_hint = match &derived {
                Some(u) => format!("optional; default {u}"),
                None => "the API URL Supabase prints, such as http://127.0.0.1:54321".into(),
            };
            edited |= field(ui, "REST API URL", &mut st.api_url, &url_hint, false).changed();
            field_error(ui, &errors, "api_url");
            edited |= field(
                ui,
                "Include buckets",
                &mut st.include,
                "comma-separated; empty: every bucket",
                false,
            )
            .changed();
            field_error(ui, &errors, "storage_include");
            edited |= field(
                ui,
                "Exclude buckets",
                &mut st.exclude,
                "comma-separated",
                false,
            )
            .changed();
            field_error(ui, &errors, "storage_exclude");
            field_error(ui, &errors, "bucket");
        });
    let will = st.access_words(&form.db_url, &form.service_key);
    match st.saved.as_ref() {
        Some(v) => {
            ui.label(format!("Storage access now: {}", v.access));
            if matches!(st.change(), Ok(Some(_))) {
                ui.label(format!("After saving: {will}"));
            }
        }
        None => {
            ui.label(format!("Storage access: {will}"));
        }
    }
    edited
}
