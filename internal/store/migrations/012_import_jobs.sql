-- Import jobs (issue 13). Owned by package importjob.
--
-- SES's bulk import jobs into the account-level suppression list
-- (CreateImportJob, GetImportJob, ListImportJobs). id is the JobId (a
-- UUID); action PUT or DELETE; source_url the ImportDataSource.S3Url
-- (file:// or petrel-upload://); format CSV or JSON; status CREATED,
-- PROCESSING, COMPLETED or FAILED. processed and failed are the record
-- counts so far; failed_records the first failures as JSON
-- [{"Line","Record","Error"}]. A runner holds a PROCESSING job by its lease
-- (lease_owner until lease_until_ms); an expired lease is taken over.
CREATE TABLE import_jobs (
	id TEXT PRIMARY KEY,
	account TEXT NOT NULL,
	action TEXT NOT NULL,
	source_url TEXT NOT NULL,
	format TEXT NOT NULL,
	status TEXT NOT NULL,
	created_ms BIGINT NOT NULL,
	completed_ms BIGINT NOT NULL DEFAULT 0,
	processed BIGINT NOT NULL DEFAULT 0,
	failed BIGINT NOT NULL DEFAULT 0,
	error_message TEXT NOT NULL DEFAULT '',
	failed_records TEXT NOT NULL DEFAULT '',
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX import_jobs_account ON import_jobs (account, created_ms);
CREATE INDEX import_jobs_status ON import_jobs (status, created_ms);

-- Files uploaded for import jobs (PUT /v2/email/import-data/{Name}, a
-- Petrel extension), named in jobs as petrel-upload://<id>. Kept
-- importjob.UploadTTL.
CREATE TABLE import_uploads (
	id TEXT PRIMARY KEY,
	account TEXT NOT NULL,
	name TEXT NOT NULL,
	size BIGINT NOT NULL,
	created_ms BIGINT NOT NULL,
	data {{BLOB}} NOT NULL
);
CREATE INDEX import_uploads_created ON import_uploads (created_ms);
