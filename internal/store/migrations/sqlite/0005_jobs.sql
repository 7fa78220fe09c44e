-- The saved plan (binary, sealed) that the apply phase applies, and the
-- accessor of the job token issued for the phase in progress, revoked
-- when the phase ends.
ALTER TABLE runs ADD COLUMN plan_file BLOB;
ALTER TABLE runs ADD COLUMN job_token_accessor TEXT NOT NULL DEFAULT '';
