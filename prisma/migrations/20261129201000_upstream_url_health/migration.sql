-- Health of each upstream registry url (issue 7: "health of each URL, rate-limit remaining"), by
-- origin. Every process records what its upstream requests saw; the newest observation wins
-- (upserts compare last_checked_at), so the API shows the same answer on every instance.

-- CreateTable
CREATE TABLE "upstream_url_health" (
    "origin" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "last_checked_at" TIMESTAMPTZ(3) NOT NULL,
    "last_error" TEXT,
    "rate_limit_remaining" INTEGER,

    CONSTRAINT "upstream_url_health_pkey" PRIMARY KEY ("origin")
);
