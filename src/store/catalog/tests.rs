use super::*;
use crate::domain::{Activity, Environment, Project, ProjectId, Sealed};
use chrono::Utc;

fn project(name: &str) -> Project {
    Project {
        id: ProjectId::new(),
        name: name.into(),
        description: String::new(),
        environment: Environment::Staging,
        db_url: Sealed(vec![1, 2, 3]),
        service_key: None,
        anon_key: None,
        is_active: true,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        extra: Default::default(),
    }
}

fn db(c: &Catalog) -> &Database {
    c.db.as_ref().unwrap()
}

#[test]
fn project_names_are_unique_regardless_of_case() {
    let c = Catalog::in_memory().unwrap();
    let a = project("Shop");
    c.insert_project(&a).unwrap();
    assert!(matches!(
        c.insert_project(&project("shop")),
        Err(StoreError::NameTaken { .. })
    ));
    assert_eq!(c.find_project("SHOP").unwrap().id, a.id);
    assert_eq!(c.find_project(&a.id.short()).unwrap().id, a.id);
    let mut renamed = a.clone();
    renamed.name = "Store".into();
    c.update_project(&renamed).unwrap();
    assert!(c.find_project("shop").is_err());
    c.insert_project(&project("Shop")).unwrap();
    assert_eq!(c.projects().unwrap().len(), 2);
}

#[test]
fn a_damaged_record_is_reported_not_a_panic() {
    let c = Catalog::in_memory().unwrap();
    let txn = db(&c).begin_write().unwrap();
    txn.open_table(PROJECTS)
        .unwrap()
        .insert(7u128, &[0xff, 0xff, 0xff][..])
        .unwrap();
    txn.commit().unwrap();
    let err = c.projects().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                table: "projects",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("damaged"));
    assert!(err.to_string().contains("catalog rebuild"));
    assert!(err.is_damage());
    assert!(c.check().unwrap_err().is_damage());
}

#[test]
fn settings_and_activity_round_trip() {
    let c = Catalog::in_memory().unwrap();
    c.set_setting("theme", Some("dark")).unwrap();
    assert_eq!(c.setting("theme").unwrap().as_deref(), Some("dark"));
    c.set_setting("theme", None).unwrap();
    assert_eq!(c.setting("theme").unwrap(), None);
    for i in 0..3 {
        c.log(&Activity::now(
            crate::domain::Level::Info,
            None,
            format!("e{i}"),
        ))
        .unwrap();
    }
    let recent = c.activity(2).unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].message, "e2");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    {
        let c = Catalog::open(&path).unwrap();
        let txn = db(&c).begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(META_SCHEMA_VERSION, &99u32.to_le_bytes()[..])
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Catalog::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
}

#[test]
fn a_second_open_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let _first = Catalog::open(&path).unwrap();
    let err = Catalog::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::InUse(_)));
    assert!(
        err.to_string()
            .contains("in use by another supabackup process")
    );
}

/// A catalog file with a few projects, a schedule and a setting, closed.
fn filled(dir: &Path) -> PathBuf {
    let path = dir.join("catalog.redb");
    let c = Catalog::open(&path).unwrap();
    for i in 0..40 {
        let mut p = project(&format!("p{i}"));
        p.description = "d".repeat(300);
        c.insert_project(&p).unwrap();
        c.log(&Activity::now(
            crate::domain::Level::Info,
            None,
            "x".repeat(200),
        ))
        .unwrap();
    }
    let first = c.projects().unwrap()[0].id;
    c.put_job(&crate::domain::fixtures::job(first, "@daily"))
        .unwrap();
    c.set_setting("retry-delay", Some("30")).unwrap();
    path
}

#[track_caller]
fn assert_damaged(err: StoreError) {
    let text = err.to_string();
    assert!(matches!(err, StoreError::Damaged { .. }), "{text}");
    assert!(text.contains("supabackup catalog rebuild"), "{text}");
    assert!(text.contains("not affected"), "{text}");
    assert!(!text.contains("permissions"), "{text}");
}

#[test]
fn damage_anywhere_in_the_file_is_reported_as_damaged_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path());
    let good = std::fs::read(&path).unwrap();
    let mut details = Vec::new();
    // Inside each page, and at its start (its type byte: redb panics on a
    // bad one while opening).
    for within in [100, 0] {
        for page in (0..good.len()).step_by(4096) {
            let mut bytes = good.clone();
            for b in bytes.iter_mut().skip(page + within).take(16) {
                *b ^= 0x5a;
            }
            std::fs::write(&path, &bytes).unwrap();
            match Catalog::open(&path) {
                // A page no table uses: everything still reads back.
                Ok(c) => c.check().unwrap(),
                Err(e) => {
                    if let StoreError::Damaged { detail, .. } = &e {
                        details.push(detail.clone());
                    }
                    assert_damaged(e);
                }
            }
        }
    }
    assert!(
        details.len() > 6,
        "only {} damaged pages found",
        details.len()
    );
    assert!(
        details.iter().any(|d| d.contains("could not be read")),
        "a panic inside redb was among them: {details:#?}"
    );
}

#[test]
fn an_overwritten_header_a_cut_file_and_an_emptied_one_are_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path());
    let good = std::fs::read(&path).unwrap();
    let mut header = good.clone();
    header[..4096].fill(0x41);
    let cut = good[..good.len() / 2].to_vec();
    for bytes in [header, cut, Vec::new()] {
        std::fs::write(&path, &bytes).unwrap();
        assert_damaged(Catalog::open(&path).unwrap_err());
    }
}

#[test]
fn config_changes_refresh_the_copy_and_a_new_catalog_takes_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path());
    let c = Catalog::open(&path).unwrap();
    let added = project("added a moment ago");
    c.insert_project(&added).unwrap();
    let latest = c.copies_dir().join("latest.copy");
    let copy = crate::store::CatalogCopy::read(&latest).unwrap();
    assert!(copy.projects.iter().any(|p| p.id == added.id));
    assert_eq!(copy.jobs.len(), 1);
    assert_eq!(
        copy.settings,
        vec![("retry-delay".to_string(), "30".to_string())]
    );
    // Backup records and the log do not touch the copy.
    let before = std::fs::read(&latest).unwrap();
    c.log(&Activity::now(crate::domain::Level::Info, None, "y"))
        .unwrap();
    assert_eq!(std::fs::read(&latest).unwrap(), before);
    let expected = c.snapshot().unwrap();
    drop(c);

    let other = dir.path().join("other").join("catalog.redb");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    let fresh = Catalog::open(&other).unwrap();
    fresh.restore_copy(&copy).unwrap();
    let back = fresh.snapshot().unwrap();
    assert_eq!(back.catalog_id, expected.catalog_id);
    assert_eq!(back.projects, expected.projects);
    assert_eq!(back.jobs, expected.jobs);
    assert_eq!(back.settings, expected.settings);
    assert_eq!(
        fresh.find_project("ADDED A MOMENT AGO").unwrap().id,
        added.id
    );
    fresh.check().unwrap();
}

#[test]
fn a_schema_1_catalog_is_migrated_when_opened() {
    use crate::domain::fixtures;
    use crate::domain::{BackupExtra, Extra, JobExtra, ProjectExtra};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let p = project("Old");
    let job = fixtures::job(p.id, "0 3 * * *");
    let b = fixtures::backup(
        p.id,
        Some(job.id),
        Utc::now(),
        crate::domain::BackupStatus::Completed,
        1,
    );
    {
        let c = Catalog::open(&path).unwrap();
        c.insert_project(&p).unwrap();
        c.put_job(&job).unwrap();
        c.put_backup(&b).unwrap();
    }
    // Rewrite it as schema 1 wrote it: records without their Extra.
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        for (table, tail) in [
            (
                PROJECTS,
                postcard::to_stdvec(&Extra(ProjectExtra::default())).unwrap(),
            ),
            (
                JOBS,
                postcard::to_stdvec(&Extra(JobExtra::default())).unwrap(),
            ),
            (
                BACKUPS,
                postcard::to_stdvec(&Extra(BackupExtra::default())).unwrap(),
            ),
        ] {
            let mut t = txn.open_table(table).unwrap();
            let all: Vec<(u128, Vec<u8>)> = t
                .iter()
                .unwrap()
                .map(|e| {
                    let (k, v) = e.unwrap();
                    (k.value(), v.value().to_vec())
                })
                .collect();
            for (k, v) in all {
                assert!(v.ends_with(&tail));
                t.insert(k, &v[..v.len() - tail.len()]).unwrap();
            }
        }
        txn.open_table(META)
            .unwrap()
            .insert(META_SCHEMA_VERSION, &1u32.to_le_bytes()[..])
            .unwrap();
        txn.commit().unwrap();
    }
    let c = Catalog::open(&path).unwrap();
    assert_eq!(c.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(c.project(p.id).unwrap().unwrap(), p);
    assert_eq!(c.job(job.id).unwrap().unwrap(), job);
    assert_eq!(c.backup(b.id).unwrap().unwrap(), b);
}

#[test]
fn destinations_round_trip_with_unique_names_and_come_back_from_a_copy() {
    use crate::domain::{Destination, DestinationId, DestinationKind};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let c = Catalog::open(&path).unwrap();
    let s3 = Destination {
        id: DestinationId::new(),
        name: "Offsite".into(),
        kind: DestinationKind::S3 {
            endpoint: "http://127.0.0.1:9000".into(),
            region: "auto".into(),
            bucket: "b".into(),
            prefix: "p/q".into(),
            path_style: true,
            access_key_id: "AKIA1234".into(),
        },
        secret: Some(Sealed(vec![9, 9, 9])),
        created_at: Utc::now(),
        extra: Default::default(),
    };
    let folder = Destination {
        id: DestinationId::new(),
        name: "nas".into(),
        kind: DestinationKind::Folder {
            path: "/mnt/nas".into(),
        },
        secret: None,
        created_at: Utc::now(),
        extra: Default::default(),
    };
    c.put_destination(&s3).unwrap();
    c.put_destination(&folder).unwrap();
    assert_eq!(c.destinations().unwrap(), vec![folder.clone(), s3.clone()]);
    assert_eq!(c.find_destination("offsite").unwrap(), s3);
    let mut clash = folder.clone();
    clash.id = DestinationId::new();
    clash.name = "OFFSITE".into();
    assert!(matches!(
        c.put_destination(&clash),
        Err(StoreError::NameTaken { .. })
    ));
    // The copies kept beside the catalog hold them too.
    drop(c);
    std::fs::remove_file(&path).unwrap();
    let salvage =
        Catalog::salvage(&path, crate::store::CopySource::Newest, Some("gone".into())).unwrap();
    assert!(salvage.copy.is_some());
    let c = Catalog::open(&path).unwrap();
    assert_eq!(c.destinations().unwrap(), vec![folder, s3.clone()]);
    assert!(c.remove_destination(s3.id).unwrap());
    assert!(c.find_destination("Offsite").is_err());
}
