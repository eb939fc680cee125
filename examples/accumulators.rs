// The seed README's accumulator blocks, run unchanged between the markers
// (`tests/readme_blocks.rs` checks they are the README's text): the first
// block up to its event-stream part, the hand lifecycle, the batch reserve.
// Around them: the set-up they assume (a funded `house_balance_cb`; creating
// an accumulator that exists with the same settings is a no-op) and the
// values their comments promise, asserted. The blocks sit in functions that
// rustfmt leaves alone, so they stay the README's text.
use aedb::query::plan::ConsistencyMode;
use aedb::{AccumulatorExposureMetrics, AccumulatorLag, AedbInstance};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// What the first block reads: projected, strong, lag, exposure, available,
/// metrics.
type Readings = (
    i64,
    i64,
    AccumulatorLag,
    i64,
    i64,
    AccumulatorExposureMetrics,
);

#[rustfmt::skip]
async fn first_block(db: &AedbInstance) -> Res<Readings> {
    // --- README block begins ---
    db.create_accumulator("casino", "app", "house_balance", Some(86_400), 10_000)
        .await?;

    db.accumulate(
        "casino",
        "app",
        "house_balance",
        -125,               // delta
        "settle_tx_123".into(), // dedupe key
        42,                 // order key
    )
    .await?;

    let projected = db
        .accumulator_value("casino", "app", "house_balance", ConsistencyMode::AtLatest)
        .await?;
    let strong = db
        .accumulator_value_strong("casino", "app", "house_balance", ConsistencyMode::AtLatest)
        .await?;
    let lag = db
        .accumulator_lag("casino", "app", "house_balance", ConsistencyMode::AtLatest)
        .await?;

    // Safety model:
    // - accumulator_value(...) is the projected/materialized value and may lag.
    // - accumulator_value_strong(...), accumulator_available(...), exposure assertions,
    //   and expose_accumulator(...) evaluate against the effective value
    //   (materialized value + unapplied deltas in the same snapshot).
    // Use the strong/effective APIs for credit, reserve, and risk decisions.

    // Optional circuit-breaker controls (basis points + orphan TTL in commit units)
    db.create_accumulator_with_options(
        "casino",
        "app",
        "house_balance_cb",
        Some(86_400),
        10_000,
        1_000, // 10% exposure margin
        Some(20_000),
    )
    .await?;

    db.expose_accumulator("casino", "app", "house_balance_cb", 500, "hand-42".into())
        .await?;
    db.accumulate_with_release(
        "casino",
        "app",
        "house_balance_cb",
        -120,
        "settle_hand_42".into(),
        43,
        Some("hand-42".into()),
    )
    .await?;
    let exposure = db
        .accumulator_exposure("casino", "app", "house_balance_cb", ConsistencyMode::AtLatest)
        .await?;
    let available = db
        .accumulator_available("casino", "app", "house_balance_cb", ConsistencyMode::AtLatest)
        .await?;
    let exposure_metrics = db
        .accumulator_exposure_metrics("casino", "app", "house_balance_cb", ConsistencyMode::AtLatest)
        .await?;

    // --- README block ends ---
    Ok((projected, strong, lag, exposure, available, exposure_metrics))
}

#[rustfmt::skip]
async fn hand_lifecycle(
    db: &AedbInstance,
    max_payout: i64,
    hand_id: String,
    actual_result: i64,
    settle_seq: u64,
) -> Res<()> {
    // --- README block begins ---
    // 1) Reserve max loss at deal time (fast circuit breaker)
    db.expose_accumulator("casino", "app", "house_balance_cb", max_payout, hand_id.clone())
        .await?;

    // 2) Apply actual outcome and release full reservation at settle time
    db.accumulate_with_release(
        "casino",
        "app",
        "house_balance_cb",
        actual_result,
        hand_id.clone(), // dedupe key
        settle_seq,
        Some(hand_id),   // release exposure id
    )
    .await?;
    // --- README block ends ---
    Ok(())
}

#[rustfmt::skip]
async fn batch_reserve(db: &AedbInstance) -> Res<()> {
    // --- README block begins ---
    db.expose_accumulator_many_atomic(
        "casino",
        "app",
        "house_balance_cb",
        vec![
            (500, "hand-101".to_string()),
            (750, "hand-102".to_string()),
            (300, "hand-103".to_string()),
        ],
    )
    .await?;
    // --- README block ends ---
    Ok(())
}

async fn strong(db: &AedbInstance) -> Res<i64> {
    let at = ConsistencyMode::AtLatest;
    Ok(db
        .accumulator_value_strong("casino", "app", "house_balance_cb", at)
        .await?)
}

async fn exposure(db: &AedbInstance) -> Res<i64> {
    let at = ConsistencyMode::AtLatest;
    Ok(db
        .accumulator_exposure("casino", "app", "house_balance_cb", at)
        .await?)
}

#[tokio::main]
async fn main() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let db = AedbInstance::open(Default::default(), dir.path())?;
    db.create_project("casino").await?;
    // The house's bankroll: 10,000 before the first hand.
    db.create_accumulator_with_options(
        "casino",
        "app",
        "house_balance_cb",
        Some(86_400),
        10_000,
        1_000,
        Some(20_000),
    )
    .await?;
    let cb = ("casino", "app", "house_balance_cb");
    db.accumulate(cb.0, cb.1, cb.2, 10_000, "bankroll".into(), 1)
        .await?;

    let (projected, strong_value, lag, exposed, available, metrics) = first_block(&db).await?;
    // One delta of -125 on `house_balance`, not yet projected (every 10,000).
    assert_eq!(projected, 0);
    assert_eq!(strong_value, -125);
    assert_eq!((lag.unapplied_deltas, lag.latest_order_key), (1, 42));
    // Exposed 500, then settled -120 and released hand-42 in one commit.
    assert_eq!(exposed, 0);
    let effective = strong(&db).await?;
    assert_eq!(effective, 10_000 - 120);
    assert_eq!(
        available,
        effective * 9 / 10,
        "a 10% margin, nothing exposed"
    );
    assert_eq!(metrics.open_exposure_count, 0);
    assert_eq!(metrics.rejection_count, 0);

    hand_lifecycle(&db, 1_000, "hand-7".into(), 250, 44).await?;
    assert_eq!(
        exposure(&db).await?,
        0,
        "the settlement released the reservation"
    );
    assert_eq!(strong(&db).await?, 10_000 - 120 + 250);

    batch_reserve(&db).await?;
    assert_eq!(exposure(&db).await?, 500 + 750 + 300, "all three reserved");
    println!(
        "house balance {}, exposure {}",
        strong(&db).await?,
        exposure(&db).await?
    );
    Ok(())
}
