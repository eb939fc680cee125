//! The seed suite on our facade.

crate::seed::adapter::seed_adapter!(
    Ours,
    aedb,
    error = aedb::AedbError,
    create_table_extra = {},
    accumulate = |this, n| {
        this.rt.block_on(async {
            this.db
                .create_accumulator(P, S, "balance", Some(86_400), 10_000)
                .await?;
            for i in 0..n {
                // Order keys must increase strictly from 1.
                this.db
                    .accumulate(P, S, "balance", 1, format!("op-{i}"), i as u64 + 1)
                    .await?;
            }
            Res::Ok(Some(()))
        })
    },
    change_feed = |this, dir, n| {
        // A second instance with the feed on: the time from a durable KV set
        // returning to a subscriber holding its change.
        let feed_dir = dir.join("feed");
        std::fs::create_dir_all(&feed_dir)?;
        this.rt.block_on(async {
            let config = aedb::config::AedbConfig {
                change_feed_retain_commits: 100_000,
                ..Default::default()
            };
            let db = aedb::AedbInstance::open(config, &feed_dir)?;
            db.create_project(P).await?;
            let from = db.storage().visible_seq();
            let mut sub = db
                .subscribe_commits(from, aedb::feed::ChangeFilter::default())
                .await?;
            let mut total = std::time::Duration::ZERO;
            for i in 0..n {
                db.kv_set(P, S, b"feed".to_vec(), (i as u64).to_be_bytes().to_vec())
                    .await?;
                let t = std::time::Instant::now();
                sub.next().await?;
                total += t.elapsed();
            }
            Res::Ok(Some(total.as_secs_f64() * 1e6 / n as f64))
        })
    }
);
