-- Reserved: migration 0015 belongs to the team access change, merged
-- separately. This placeholder only keeps the numbers contiguous; drop it
-- when that migration lands.
SELECT 1;
