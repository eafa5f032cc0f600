//! Getting a company's spreadsheets in and out: `import` reads a CSV file of customers, contacts,
//! products or payments, works out the whole of it first (`plan`), and writes it only if every
//! row passed (`write`); `export` writes a kind's records as CSV or JSON lines.

pub mod columns;
pub mod export;
pub mod plan;
pub mod sheet;
pub mod write;
