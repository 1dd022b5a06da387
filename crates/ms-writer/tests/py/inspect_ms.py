"""Open a Measurement Set and every subtable with python-casacore; print JSON.

Usage: inspect_ms.py <ms>

Output: {"info": main table info, "keywords": main keywords (subtable links as
strings), "tables": {name: {"nrows", "colnames"}}, "colkeywords": a few
columns' keywords, "data_re"/"data_im"/"data_shape": getcol("DATA"),
"flag", "uvw", "weight", "sigma", "weight_spectrum"}.
Used by the dsa110-ms-writer integration tests; they assert on it.
"""

import json
import sys

import casacore.tables as ct
import numpy as np


def main(ms):
    out = {"tables": {}, "colkeywords": {}}
    with ct.table(ms, ack=False) as t:
        out["info"] = t.info()
        kws = t.getkeywords()
        out["keywords"] = {k: (v if isinstance(v, (int, float, bool, str)) else str(v))
                           for k, v in kws.items()}
        out["tables"]["MAIN"] = {"nrows": t.nrows(), "colnames": t.colnames()}
        for col in ["UVW", "TIME", "EXPOSURE", "FLAG_CATEGORY"]:
            out["colkeywords"][col] = t.getcolkeywords(col)
        out["dminfo"] = {v["NAME"]: {"TYPE": v["TYPE"], "COLUMNS": v["COLUMNS"]}
                         for v in t.getdminfo().values()}
        data = t.getcol("DATA")
        out["data_shape"] = list(data.shape)
        out["data_re"] = data.real.ravel().tolist()
        out["data_im"] = data.imag.ravel().tolist()
        out["flag"] = t.getcol("FLAG").ravel().tolist()
        out["uvw"] = t.getcol("UVW").ravel().tolist()
        out["weight"] = t.getcol("WEIGHT").ravel().tolist()
        out["sigma"] = t.getcol("SIGMA").ravel().tolist()
        out["weight_spectrum"] = t.getcol("WEIGHT_SPECTRUM").ravel().tolist()
        out["data_desc_id"] = t.getcol("DATA_DESC_ID").tolist()
        out["scalars"] = {c: sorted(set(t.getcol(c).tolist())) for c in [
            "FEED1", "FEED2", "FIELD_ID", "ARRAY_ID", "OBSERVATION_ID", "PROCESSOR_ID",
            "STATE_ID", "SCAN_NUMBER", "INTERVAL", "EXPOSURE"]}
        out["time"] = t.getcol("TIME").tolist()
        out["time_centroid"] = t.getcol("TIME_CENTROID").tolist()
        out["antenna1"] = t.getcol("ANTENNA1").tolist()
        out["antenna2"] = t.getcol("ANTENNA2").tolist()
        out["flag_row"] = t.getcol("FLAG_ROW").tolist()
        subtables = [k for k, v in kws.items() if isinstance(v, str) and v.startswith("Table:")]
    for name in sorted(subtables):
        with ct.table(f"{ms}/{name}", ack=False) as st:
            out["tables"][name] = {"nrows": st.nrows(), "colnames": st.colnames()}
            if name == "SPECTRAL_WINDOW":
                out["colkeywords"]["CHAN_FREQ"] = st.getcolkeywords("CHAN_FREQ")
                out["chan_freq"] = [st.getcell("CHAN_FREQ", i).tolist() for i in range(st.nrows())]
            if name == "FIELD":
                out["colkeywords"]["PHASE_DIR"] = st.getcolkeywords("PHASE_DIR")
                out["phase_dir"] = st.getcell("PHASE_DIR", 0).tolist()
            if name == "OBSERVATION":
                out["telescope_location"] = st.getcell("TELESCOPE_LOCATION", 0).tolist()
                out["telescope_name"] = st.getcell("TELESCOPE_NAME", 0)
            if name == "POLARIZATION":
                out["corr_type"] = st.getcell("CORR_TYPE", 0).tolist()
                out["corr_product"] = st.getcell("CORR_PRODUCT", 0).tolist()
    print(json.dumps(out, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o)))


if __name__ == "__main__":
    main(sys.argv[1])
