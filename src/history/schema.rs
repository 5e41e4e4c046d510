//! Schema migrations, numbered by SQLite's `user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: runs and copies
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        trigger TEXT NOT NULL,
        source TEXT NOT NULL,
        source_key TEXT,
        status TEXT NOT NULL,
        backup_slug TEXT,
        backup_name TEXT,
        backup_date TEXT,
        plain_size INTEGER,
        plain_sha256 TEXT,
        stored_size INTEGER,
        stored_sha256 TEXT,
        error TEXT,
        warnings TEXT
    );
    CREATE INDEX runs_source_key ON runs (source_key);
    CREATE TABLE copies (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        destination TEXT NOT NULL,
        copy_id TEXT NOT NULL,
        object TEXT NOT NULL,
        status TEXT NOT NULL,
        stored_size INTEGER,
        stored_sha256 TEXT,
        error TEXT,
        upload_ms INTEGER,
        verify_ms INTEGER,
        verified_at TEXT
    );
    CREATE INDEX copies_run ON copies (run_id);
    CREATE INDEX copies_destination ON copies (destination);",
    // 2: upkeep — pins, deletions with their reasons, re-verification checks, the retry queue,
    // and small named values (the scheduler's last fire times)
    "CREATE TABLE pins (
        destination TEXT NOT NULL,
        copy_id TEXT NOT NULL,
        pinned_at TEXT NOT NULL,
        PRIMARY KEY (destination, copy_id)
    );
    CREATE TABLE deletions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        destination TEXT NOT NULL,
        copy_id TEXT NOT NULL,
        made TEXT,
        trigger TEXT NOT NULL,
        reason TEXT NOT NULL,
        error TEXT
    );
    CREATE INDEX deletions_destination ON deletions (destination);
    CREATE TABLE checks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        destination TEXT NOT NULL,
        copy_id TEXT NOT NULL,
        ok INTEGER NOT NULL,
        error TEXT,
        ms INTEGER
    );
    CREATE INDEX checks_copy ON checks (destination, copy_id);
    CREATE TABLE retries (
        source_key TEXT NOT NULL,
        destination TEXT NOT NULL,
        hint TEXT NOT NULL,
        locator TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_at TEXT NOT NULL,
        last_error TEXT,
        queued_at TEXT NOT NULL,
        PRIMARY KEY (source_key, destination)
    );
    CREATE TABLE state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );",
    // 3: each run's timeline (what happened when, as JSON), and indexes for the dashboard's filters
    // and its copy counts
    "ALTER TABLE runs ADD COLUMN timeline TEXT;
    CREATE INDEX runs_status ON runs (status);
    CREATE INDEX runs_trigger ON runs (trigger);
    CREATE INDEX copies_copy ON copies (destination, copy_id);
    CREATE INDEX copies_state ON copies (destination, status);
    CREATE INDEX deletions_copy ON deletions (destination, copy_id);",
    // 4: the key ledger (which keys lock each run's copies, as JSON fingerprints) and the answers
    // to "do you still have your kit?"
    "ALTER TABLE runs ADD COLUMN keys TEXT;
    CREATE TABLE kit_checks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        ok INTEGER NOT NULL,
        detail TEXT NOT NULL
    );",
    // 5: why a copy failed, as a status (denied, full, misconfigured…), and for a retry whether it
    // waits for the destination's settings to change (the digest they were refused with)
    "ALTER TABLE copies ADD COLUMN failure TEXT;
    ALTER TABLE retries ADD COLUMN failure TEXT;
    ALTER TABLE retries ADD COLUMN waits_for TEXT;",
    // 6: what a restore of the run's backup will need (the restore-readiness report, as JSON, with
    // what changed since the run before)
    "ALTER TABLE runs ADD COLUMN readiness TEXT;",
    // 7: the versions a run's backup restores to, and the ones running when it was made
    "ALTER TABLE runs ADD COLUMN versions TEXT;",
    // 8: the name of the source a run backed up (`postgres`, `configs`…); runs from before
    // sources had names have none and are the first source's
    "ALTER TABLE runs ADD COLUMN source_name TEXT;
    CREATE INDEX runs_source_name ON runs (source_name, id);",
    // 9: database restore drills: a dump loaded into a scratch database, timed and compared
    "CREATE TABLE drills (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        copy_id TEXT NOT NULL,
        ms INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX drills_source ON drills (source, id);",
    // 10: running totals (see `totals.rs`), built here from what history already holds: a copy
    // deleted by Lifeboat is marked `gone`; what is held per destination; the space per
    // destination per day; the stored copies per set of keys; the runs per outcome and trigger
    // (kept by triggers on `runs`, so no way of writing a run can miss them). And narrow indexes:
    // runs' ids, so a page of runs far back is found without reading every run before it, and a
    // destination's copies by run.
    "ALTER TABLE copies ADD COLUMN gone INTEGER NOT NULL DEFAULT 0;
    UPDATE copies SET gone = 1 WHERE status = 'verified' AND EXISTS (SELECT 1 FROM deletions d
      WHERE d.destination = copies.destination AND d.copy_id = copies.copy_id AND d.error IS NULL);
    CREATE INDEX copies_live ON copies (run_id) WHERE status = 'verified' AND gone = 0;
    CREATE INDEX runs_newest ON runs (id);
    CREATE INDEX copies_destination_run ON copies (destination, run_id);
    CREATE TABLE destination_totals (
        destination TEXT PRIMARY KEY,
        copies INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO destination_totals (destination, copies, bytes)
      SELECT destination, COUNT(*),
        COALESCE(SUM(CASE WHEN verified_at IS NOT NULL THEN stored_size END), 0)
      FROM copies WHERE status = 'verified' AND gone = 0 GROUP BY destination;
    CREATE TABLE space_days (
        destination TEXT NOT NULL,
        day TEXT NOT NULL,
        delta INTEGER NOT NULL,
        last_at TEXT NOT NULL,
        PRIMARY KEY (destination, day)
    ) WITHOUT ROWID;
    CREATE INDEX space_days_day ON space_days (day);
    INSERT INTO space_days (destination, day, delta, last_at)
      SELECT destination, substr(at, 1, 10), SUM(delta), MAX(at) FROM (
        SELECT destination, verified_at AS at, stored_size AS delta FROM copies
        WHERE status = 'verified' AND verified_at IS NOT NULL AND stored_size IS NOT NULL
        UNION ALL
        SELECT c.destination, (SELECT MIN(d.at) FROM deletions d WHERE d.destination = c.destination
            AND d.copy_id = c.copy_id AND d.error IS NULL), -c.stored_size FROM copies c
        WHERE c.gone = 1 AND c.verified_at IS NOT NULL AND c.stored_size IS NOT NULL)
      GROUP BY destination, substr(at, 1, 10);
    CREATE TABLE key_totals (
        keys TEXT PRIMARY KEY,
        copies INTEGER NOT NULL,
        oldest_run INTEGER NOT NULL,
        newest_run INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO key_totals (keys, copies, oldest_run, newest_run)
      SELECT COALESCE(r.keys, ''), COUNT(*), MIN(r.id), MAX(r.id)
      FROM copies c JOIN runs r ON r.id = c.run_id
      WHERE c.status = 'verified' AND c.gone = 0 GROUP BY COALESCE(r.keys, '');
    CREATE TABLE run_counts (
        status TEXT NOT NULL,
        trigger TEXT NOT NULL,
        runs INTEGER NOT NULL,
        PRIMARY KEY (status, trigger)
    ) WITHOUT ROWID;
    INSERT INTO run_counts (status, trigger, runs)
      SELECT status, trigger, COUNT(*) FROM runs GROUP BY status, trigger;
    CREATE TRIGGER run_counted AFTER INSERT ON runs BEGIN
      INSERT INTO run_counts (status, trigger, runs) VALUES (new.status, new.trigger, 1)
        ON CONFLICT (status, trigger) DO UPDATE SET runs = runs + 1;
    END;
    CREATE TRIGGER run_recounted AFTER UPDATE OF status, trigger ON runs
      WHEN old.status != new.status OR old.trigger != new.trigger BEGIN
      UPDATE run_counts SET runs = runs - 1 WHERE status = old.status AND trigger = old.trigger;
      INSERT INTO run_counts (status, trigger, runs) VALUES (new.status, new.trigger, 1)
        ON CONFLICT (status, trigger) DO UPDATE SET runs = runs + 1;
    END;
    CREATE TRIGGER run_uncounted AFTER DELETE ON runs BEGIN
      UPDATE run_counts SET runs = runs - 1 WHERE status = old.status AND trigger = old.trigger;
    END;",
    // 11: the copy rows per destination, outcome of their run and trigger, so a page of a
    // destination's runs is counted from a few rows, not by reading every copy made there. Kept
    // by triggers on `copies` (a row in, a row out) and on `runs` (a run's outcome or trigger
    // changing moves its copies' counts along).
    "CREATE TABLE destination_counts (
        destination TEXT NOT NULL,
        status TEXT NOT NULL,
        trigger TEXT NOT NULL,
        copies INTEGER NOT NULL,
        PRIMARY KEY (destination, status, trigger)
    ) WITHOUT ROWID;
    INSERT INTO destination_counts (destination, status, trigger, copies)
      SELECT c.destination, r.status, r.trigger, COUNT(*) FROM copies c JOIN runs r ON r.id = c.run_id
      GROUP BY c.destination, r.status, r.trigger;
    CREATE TRIGGER copy_counted AFTER INSERT ON copies BEGIN
      INSERT INTO destination_counts (destination, status, trigger, copies)
        SELECT new.destination, status, trigger, 1 FROM runs WHERE id = new.run_id
        ON CONFLICT (destination, status, trigger) DO UPDATE SET copies = copies + 1;
    END;
    CREATE TRIGGER copy_uncounted AFTER DELETE ON copies BEGIN
      UPDATE destination_counts SET copies = copies - 1
        WHERE destination = old.destination
          AND (status, trigger) = (SELECT status, trigger FROM runs WHERE id = old.run_id);
    END;
    CREATE TRIGGER run_copies_recounted AFTER UPDATE OF status, trigger ON runs
      WHEN old.status != new.status OR old.trigger != new.trigger BEGIN
      UPDATE destination_counts SET copies = copies - (SELECT COUNT(*) FROM copies c
          WHERE c.run_id = old.id AND c.destination = destination_counts.destination)
        WHERE status = old.status AND trigger = old.trigger
          AND destination IN (SELECT destination FROM copies WHERE run_id = old.id);
      INSERT INTO destination_counts (destination, status, trigger, copies)
        SELECT destination, new.status, new.trigger, COUNT(*) FROM copies WHERE run_id = new.id
        GROUP BY destination
        ON CONFLICT (destination, status, trigger) DO UPDATE SET copies = copies + excluded.copies;
    END;",
    // 12: destination tests (the daily probe, one asked for on a card, the setup form's Test):
    // where, when, whether it passed, the step it stopped at and its cause, the store's words
    // (capped), how long it took and why it ran; the newest per destination found by its index
    "CREATE TABLE probes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        destination TEXT NOT NULL,
        at TEXT NOT NULL,
        ok INTEGER NOT NULL,
        step TEXT,
        cause TEXT,
        detail TEXT NOT NULL,
        took_ms INTEGER NOT NULL,
        why TEXT NOT NULL
    );
    CREATE INDEX probes_destination ON probes (destination, id);",
];

/// Brings the database up to the current schema.
///
/// # Errors
/// SQLite errors.
pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let due = usize::try_from(version).unwrap_or(0);
    if due >= MIGRATIONS.len() {
        return Ok(());
    }
    // All at once: every page is written to the log once, not once a migration, and a migration
    // cut short leaves the history as it was.
    let tx = conn.unchecked_transaction()?;
    for (i, sql) in (0i64..).zip(MIGRATIONS.iter()).skip(due) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.commit()?;
    // Back into the database file, and the log emptied: a data folder on a small disk is not
    // left holding both.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}
