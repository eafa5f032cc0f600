//! The fieldsync database schema as append-only sea-orm migrations, run by the server at start.
//!
//! **Never edit a migration that has landed**; add a new one. Times are stored as milliseconds since
//! the Unix epoch (BIGINT) and ids as UUIDs, so SQLite and PostgreSQL behave the same.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000010_document_listing;
mod m20261123_000020_device_checkpoint;
mod m20261123_000030_documents_seq_index;
mod m20261123_000040_login_throttle;
mod m20261124_000050_listing_columns;
mod m20261124_000060_feed_reservations;
mod m20261205_000070_upgrade_tasks;
mod m20261205_000080_products;
mod m20261205_000090_server_actors;
mod m20261205_000100_device_backlog_indexes;
mod m20261205_000110_claimed_devices;
mod m20261206_000120_crm_records;
mod m20261206_000130_settings;
mod m20261206_000140_orders;
mod m20261206_000150_opportunity_stages;
mod m20261206_000160_tasks_and_targets;
mod m20261206_000170_order_due;
mod m20261206_000180_visit_plans;
mod m20261206_000190_schedule_runs;
mod m20261206_000200_report_indexes;
mod m20261206_000210_device_reports;
mod m20261206_000220_change_receipts;
mod m20261206_000230_duplicates;
mod m20261206_000240_customer_merges;
mod m20261206_000250_attachments;
mod m20261206_000260_customer_codes;
mod m20261206_000270_rules_due;
mod m20261206_000280_user_scope;
mod m20261206_000290_product_costs;
mod m20261207_000300_web_sessions;
mod m20261207_000310_order_numbers;
mod m20261207_000320_leads;
mod m20261207_000330_campaigns;
mod m20261207_000340_lead_duplicates;
mod m20261207_000350_personal_data_access;
mod m20261207_000360_erased_records;
mod m20261207_000370_sealed_at_rest;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000010_document_listing::Migration),
            Box::new(m20261123_000020_device_checkpoint::Migration),
            Box::new(m20261123_000030_documents_seq_index::Migration),
            Box::new(m20261123_000040_login_throttle::Migration),
            Box::new(m20261124_000050_listing_columns::Migration),
            Box::new(m20261124_000060_feed_reservations::Migration),
            Box::new(m20261205_000070_upgrade_tasks::Migration),
            Box::new(m20261205_000080_products::Migration),
            Box::new(m20261205_000090_server_actors::Migration),
            Box::new(m20261205_000100_device_backlog_indexes::Migration),
            Box::new(m20261205_000110_claimed_devices::Migration),
            Box::new(m20261206_000120_crm_records::Migration),
            Box::new(m20261206_000130_settings::Migration),
            Box::new(m20261206_000140_orders::Migration),
            Box::new(m20261206_000150_opportunity_stages::Migration),
            Box::new(m20261206_000160_tasks_and_targets::Migration),
            Box::new(m20261206_000170_order_due::Migration),
            Box::new(m20261206_000180_visit_plans::Migration),
            Box::new(m20261206_000190_schedule_runs::Migration),
            Box::new(m20261206_000200_report_indexes::Migration),
            Box::new(m20261206_000210_device_reports::Migration),
            Box::new(m20261206_000220_change_receipts::Migration),
            Box::new(m20261206_000230_duplicates::Migration),
            Box::new(m20261206_000240_customer_merges::Migration),
            Box::new(m20261206_000250_attachments::Migration),
            Box::new(m20261206_000260_customer_codes::Migration),
            Box::new(m20261206_000270_rules_due::Migration),
            Box::new(m20261206_000280_user_scope::Migration),
            Box::new(m20261206_000290_product_costs::Migration),
            Box::new(m20261207_000300_web_sessions::Migration),
            Box::new(m20261207_000310_order_numbers::Migration),
            Box::new(m20261207_000320_leads::Migration),
            Box::new(m20261207_000330_campaigns::Migration),
            Box::new(m20261207_000340_lead_duplicates::Migration),
            Box::new(m20261207_000350_personal_data_access::Migration),
            Box::new(m20261207_000360_erased_records::Migration),
            Box::new(m20261207_000370_sealed_at_rest::Migration),
        ]
    }
}
