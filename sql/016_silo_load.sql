-- 016: each silo's load in the membership table, written with every heartbeat, so the dashboard of any silo can show
-- the cluster's command rate (the sum over the alive silos) and not only its own. Rates are the silo's last 10 whole
-- seconds, per second; the total counts commands since the silo started.
ALTER TABLE silos
    ADD COLUMN commands_per_second   double precision NOT NULL DEFAULT 0,
    ADD COLUMN rejections_per_second double precision NOT NULL DEFAULT 0,
    ADD COLUMN events_per_second     double precision NOT NULL DEFAULT 0,
    ADD COLUMN commands_total        bigint           NOT NULL DEFAULT 0;
