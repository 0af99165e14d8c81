//! mosagg's errors as the typed Python exceptions of `mosagg._errors`, each carrying
//! the CLI's message and exit code, and (for input errors) the file and line.

use mosagg::error::{Error, LoadError};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The exception class for an error, and where in which input it happened.
struct Shape<'e> {
    class: &'static str,
    path: Option<&'e str>,
    line: Option<u64>,
}

fn load_shape(e: &LoadError) -> Shape<'_> {
    match e {
        LoadError::InvalidJson { path, line, .. }
        | LoadError::BadRow { path, line, .. }
        | LoadError::BadValue { path, line, .. } => Shape {
            class: "InputError",
            path: Some(path),
            line: Some(*line),
        },
        LoadError::Io { path, .. } => Shape {
            class: "InputError",
            path: Some(path),
            line: None,
        },
        LoadError::Arrow(_) | LoadError::Cancelled => Shape {
            class: "EngineError",
            path: None,
            line: None,
        },
    }
}

/// A load error the query engine wrapped on its way up, if there is one.
fn wrapped_load_error<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e LoadError> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(load) = c.downcast_ref::<LoadError>() {
            return Some(load);
        }
        cause = c.source();
    }
    None
}

fn shape(e: &Error) -> (Shape<'_>, String) {
    let plain = |class| Shape {
        class,
        path: None,
        line: None,
    };
    match e {
        Error::Usage(_) => (plain("UsageError"), e.to_string()),
        Error::NoInput(_) => (plain("NoInputError"), e.to_string()),
        Error::Load(load) => (load_shape(load), e.to_string()),
        Error::Engine(df) => match wrapped_load_error(df) {
            Some(load) => (load_shape(load), load.to_string()),
            None => (plain("EngineError"), e.to_string()),
        },
        Error::Arrow(_) | Error::Parquet(_) => (plain("EngineError"), e.to_string()),
        Error::Io { .. } => (plain("FileError"), e.to_string()),
        Error::Busy(_) => (plain("BusyError"), e.to_string()),
        Error::Resources(_) => (plain("ResourcesError"), e.to_string()),
        Error::Internal(_) => (plain("InternalError"), e.to_string()),
        _ => (plain("MosaggError"), e.to_string()),
    }
}

/// The Python exception for `e`.
pub fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    if matches!(e, Error::Cancelled) {
        return PyKeyboardInterrupt::new_err(e.to_string());
    }
    let (shape, message) = shape(e);
    let build = || -> PyResult<PyErr> {
        let class = py.import("mosagg._errors")?.getattr(shape.class)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("exit_code", e.exit_code())?;
        kwargs.set_item("path", shape.path)?;
        kwargs.set_item("line", shape.line)?;
        Ok(PyErr::from_value(
            class.call((message.clone(),), Some(&kwargs))?,
        ))
    };
    // If the exception classes cannot be built, the message must still get through.
    build().unwrap_or_else(|_| PyRuntimeError::new_err(message.clone()))
}
