-- Projections are kept by projection grains fed by an Orleans persistent stream whose queue is the event log itself
-- (src/Escrow.Silo/Projections): one queue per projection, pulled by whichever silo Orleans's queue balancer gives it.
-- The advisory-lock leases of the old projection runners are gone; this column says which silo's pulling agent reads a
-- projection's queue now (its Orleans silo address, written when the agent's receiver starts and cleared when it stops
-- cleanly). It is information for operators (`escrow silos`, the dashboard), never a lock: a crashed silo's entry
-- stays until the next owner's receiver starts, so readers keep only entries of silos that membership says are active.
ALTER TABLE projection_checkpoints ADD COLUMN pulled_by text;
ALTER TABLE projection_checkpoints ADD COLUMN pulled_since timestamptz;
