//! Column descriptions with the units and measure keywords casacore's
//! required MS description (`casacore.tables.required_ms_desc`) prescribes.

use std::path::Path;

use rubbl_casatables::{
    GlueDataType, Table, TableCreateMode, TableDesc, TableDescCreateMode, TableRecord,
};

use crate::error::CasaContext;
use crate::MsError;

/// Shape of a column's cells, row-major (rubbl's convention).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shape {
    /// A scalar.
    Scalar,
    /// A fixed-shape array, stored directly.
    Fixed(&'static [u64]),
    /// A variable-shape array with a fixed number of dimensions (`None`: any).
    Var(Option<u64>),
}

/// The measure a column holds (its `MEASINFO` keyword).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Meas {
    /// `{type: epoch, Ref: UTC}`.
    Epoch,
    /// `{type: position, Ref: ITRF}`.
    Position,
    /// `{type: direction, Ref: J2000}`.
    Direction,
    /// `{type: uvw, Ref: J2000}`.
    Uvw,
    /// Frequency with its frame in the `MEAS_FREQ_REF` column.
    FrequencyVarRef,
}

/// One column of a table description.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ColDef {
    pub name: &'static str,
    pub ty: GlueDataType,
    pub shape: Shape,
    pub units: &'static [&'static str],
    pub meas: Option<Meas>,
}

pub(crate) const fn col(name: &'static str, ty: GlueDataType, shape: Shape) -> ColDef {
    ColDef {
        name,
        ty,
        shape,
        units: &[],
        meas: None,
    }
}

impl ColDef {
    pub(crate) const fn units(mut self, units: &'static [&'static str]) -> Self {
        self.units = units;
        self
    }
    pub(crate) const fn meas(mut self, meas: Meas) -> Self {
        self.meas = Some(meas);
        self
    }
}

/// Build the `MEASINFO` record of a measure.
pub(crate) fn measinfo(meas: Meas) -> Result<TableRecord, rubbl_casatables::TableError> {
    let mut rec = TableRecord::new()?;
    let (ty, reference) = match meas {
        Meas::Epoch => ("epoch", Some("UTC")),
        Meas::Position => ("position", Some("ITRF")),
        Meas::Direction => ("direction", Some("J2000")),
        Meas::Uvw => ("uvw", Some("J2000")),
        Meas::FrequencyVarRef => ("frequency", None),
    };
    rec.put_field("type", &ty.to_string())?;
    match reference {
        Some(r) => rec.put_field("Ref", &r.to_string())?,
        None => {
            rec.put_field("VarRefCol", &"MEAS_FREQ_REF".to_string())?;
            let types: Vec<String> = [
                "REST",
                "LSRK",
                "LSRD",
                "BARY",
                "GEO",
                "TOPO",
                "GALACTO",
                "LGROUP",
                "CMB",
                "Undefined",
            ]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
            rec.put_field("TabRefTypes", &types)?;
            let codes: Vec<u32> = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 64];
            rec.put_field("TabRefCodes", &codes)?;
        }
    }
    Ok(rec)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

/// Create a table at `path` with the given columns (all in the default
/// StandardStMan) and `nrows` rows.
pub(crate) fn create_table(path: &Path, cols: &[ColDef], nrows: usize) -> Result<Table, MsError> {
    let mut desc = TableDesc::new("", TableDescCreateMode::TDM_SCRATCH)
        .casa(path, || "create a table description".into())?;
    for c in cols {
        let what = || format!("describe column {}", c.name);
        match c.shape {
            Shape::Scalar => desc
                .add_scalar_column(c.ty, c.name, None, false, false)
                .casa(path, what)?,
            Shape::Fixed(shape) => desc
                .add_array_column(c.ty, c.name, None, Some(shape), true, false)
                .casa(path, what)?,
            Shape::Var(ndim) => {
                desc.add_array_column(c.ty, c.name, None, None, false, false)
                    .casa(path, what)?;
                if let Some(n) = ndim {
                    desc.set_ndims(c.name, n).casa(path, what)?;
                }
            }
        }
        if !c.units.is_empty() {
            desc.put_column_keyword(c.name, "QuantumUnits", &strings(c.units))
                .casa(path, || format!("set QuantumUnits of {}", c.name))?;
        }
        if let Some(m) = c.meas {
            let rec = measinfo(m).casa(path, || format!("build MEASINFO of {}", c.name))?;
            desc.put_column_keyword(c.name, "MEASINFO", &rec)
                .casa(path, || format!("set MEASINFO of {}", c.name))?;
        }
    }
    Table::new(path, desc, nrows, TableCreateMode::NewNoReplace).casa(path, || "create".into())
}

/// Set `QuantumUnits` and `MEASINFO` on an existing column.
pub(crate) fn set_column_measure(
    table: &mut Table,
    path: &Path,
    column: &str,
    units: &[&str],
    meas: Option<Meas>,
) -> Result<(), MsError> {
    if !units.is_empty() {
        table
            .put_column_keyword(column, "QuantumUnits", &strings(units))
            .casa(path, || format!("set QuantumUnits of {column}"))?;
    }
    if let Some(m) = meas {
        let rec = measinfo(m).casa(path, || format!("build MEASINFO of {column}"))?;
        table
            .put_column_keyword(column, "MEASINFO", &rec)
            .casa(path, || format!("set MEASINFO of {column}"))?;
    }
    Ok(())
}
