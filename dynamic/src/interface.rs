//! What the runtime and a dynamic caller need to know about an interface of a model,
//! made at run time: the same wire facts generated code has as constants (names, ids,
//! fingerprints, semantics, the default object id), and each method's request and reply
//! records.

use std::sync::Arc;

use idl::{Mode, Model, QualifiedName, Type};
use rpc_runtime::{InterfaceSpec, MethodSpec, Semantics};

/// The fields of a record (a method's arguments or results): names and types, in the
/// order they travel.
pub type Record = Vec<(String, Type)>;

/// An interface of a model, ready to be called or served without generated code.
#[derive(Debug)]
pub struct DynamicInterface {
    model: Arc<Model>,
    name: QualifiedName,
    spec: &'static InterfaceSpec,
    methods: Vec<DynamicMethod>,
}

/// A method of a [`DynamicInterface`].
#[derive(Debug)]
pub struct DynamicMethod {
    /// The method as the model has it.
    pub method: idl::Method,
    /// Its wire facts, as the runtime takes them.
    pub spec: &'static MethodSpec,
    /// Its request record: the `in` and `inout` parameters, in order.
    pub request: Record,
    /// Its reply record: the result (named [`DynamicMethod::result_name`]) and then the
    /// `inout` and `out` parameters, in order. Empty for `oneway` methods.
    pub reply: Record,
    /// The name of the result in the reply record: `result`, or `__result` when a
    /// parameter coming back is itself called `result`. None when it returns nothing.
    pub result_name: Option<String>,
}

impl DynamicInterface {
    /// The interface `name` (`package.Interface`) of `model`.
    ///
    /// Its wire facts are made once and live as long as the process: the runtime takes
    /// them as `&'static` (calls and errors refer to them without counting references).
    /// A program makes them once per interface it loads, as the CLI and the gateway do;
    /// one that loads models again and again should keep the interfaces it made.
    pub fn new(model: Arc<Model>, name: &str) -> Result<DynamicInterface, String> {
        let qualified = parse_name(name)?;
        let interface = model
            .interface(&qualified)
            .ok_or_else(|| unknown_interface(&model, name))?;
        let full_name = qualified.to_string();
        let methods: Vec<DynamicMethod> = interface
            .methods
            .iter()
            .map(|m| DynamicMethod::new(m.clone()))
            .collect();
        let specs: Vec<MethodSpec> = methods.iter().map(|m| *m.spec).collect();
        let spec: &'static InterfaceSpec = Box::leak(Box::new(InterfaceSpec {
            name: leak(&full_name),
            fingerprint: interface.fingerprint,
            object: idl::ids::fnv1a_64(full_name.as_bytes()),
            methods: Box::leak(specs.into_boxed_slice()),
        }));
        Ok(DynamicInterface {
            model,
            name: qualified,
            spec,
            methods,
        })
    }

    /// Every interface of `model`, in the order of its packages and definitions.
    pub fn all(model: &Arc<Model>) -> Vec<DynamicInterface> {
        model
            .packages
            .iter()
            .flat_map(|p| {
                p.interfaces
                    .iter()
                    .map(|i| format!("{}.{}", p.name, i.name))
            })
            .filter_map(|name| DynamicInterface::new(model.clone(), &name).ok())
            .collect()
    }

    /// The model it comes from.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Its name, `package.Interface`.
    pub fn name(&self) -> &QualifiedName {
        &self.name
    }

    /// Its wire facts.
    pub fn spec(&self) -> &'static InterfaceSpec {
        self.spec
    }

    /// Its methods, in definition order.
    pub fn methods(&self) -> &[DynamicMethod] {
        &self.methods
    }

    /// The method called `name`, or an error listing the methods there are.
    pub fn method(&self, name: &str) -> Result<&DynamicMethod, String> {
        self.methods
            .iter()
            .find(|m| m.method.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .methods
                    .iter()
                    .map(|m| m.method.name.as_str())
                    .collect();
                format!(
                    "{} has no method `{name}` (methods: {})",
                    self.name,
                    names.join(", ")
                )
            })
    }
}

impl DynamicMethod {
    fn new(method: idl::Method) -> DynamicMethod {
        let spec: &'static MethodSpec = Box::leak(Box::new(MethodSpec {
            name: leak(&method.name),
            id: method.id,
            fingerprint: method.fingerprint,
            semantics: semantics(method.semantics),
            cancellable: method.cancellable,
        }));
        let request = method
            .params
            .iter()
            .filter(|p| p.mode != Mode::Out)
            .map(|p| (p.name.clone(), p.ty.clone()))
            .collect();
        let returned: Record = method
            .params
            .iter()
            .filter(|p| p.mode != Mode::In)
            .map(|p| (p.name.clone(), p.ty.clone()))
            .collect();
        let result_name = method.result.as_ref().map(|_| {
            if returned.iter().any(|(name, _)| name == "result") {
                "__result".to_owned()
            } else {
                "result".to_owned()
            }
        });
        let mut reply = Record::new();
        if method.semantics != idl::Semantics::Maybe {
            if let (Some(name), Some(ty)) = (&result_name, &method.result) {
                reply.push((name.clone(), ty.clone()));
            }
            reply.extend(returned);
        }
        DynamicMethod {
            method,
            spec,
            request,
            reply,
            result_name,
        }
    }

    /// The type of the exception it raises, if any.
    pub fn exception(&self) -> Option<Type> {
        self.method.raises.as_ref().map(|name| Type::Named {
            name: name.clone(),
            boxed: false,
        })
    }

    /// Its signature as the IDL writes it: `transfer(from: u64, to: u64, inout amount:
    /// i64) raises bank.BankError`.
    pub fn signature(&self) -> String {
        let m = &self.method;
        let params: Vec<String> = m
            .params
            .iter()
            .map(|p| match p.mode {
                Mode::In => format!("{}: {}", p.name, p.ty),
                Mode::Out => format!("out {}: {}", p.name, p.ty),
                Mode::InOut => format!("inout {}: {}", p.name, p.ty),
            })
            .collect();
        let mut text = format!("{}({})", m.name, params.join(", "));
        if let Some(result) = &m.result {
            text.push_str(&format!(" -> {result}"));
        }
        if let Some(raises) = &m.raises {
            text.push_str(&format!(" raises {raises}"));
        }
        text
    }
}

/// The runtime's name for a model's semantics.
pub fn semantics(semantics: idl::Semantics) -> Semantics {
    match semantics {
        idl::Semantics::Maybe => Semantics::Maybe,
        idl::Semantics::AtLeastOnce => Semantics::AtLeastOnce,
        idl::Semantics::AtMostOnce => Semantics::AtMostOnce,
        idl::Semantics::LastOfMany => Semantics::LastOfMany,
    }
}

/// How the semantics is named in the docs: "at-most-once (the default)".
pub fn semantics_text(semantics: idl::Semantics) -> String {
    let name = match semantics {
        idl::Semantics::Maybe => "maybe",
        idl::Semantics::AtLeastOnce => "at-least-once",
        idl::Semantics::AtMostOnce => "at-most-once",
        idl::Semantics::LastOfMany => "last-of-many",
    };
    match semantics.attribute() {
        Some(attribute) => format!("{name} [{attribute}]"),
        None => format!("{name} (the default)"),
    }
}

fn parse_name(name: &str) -> Result<QualifiedName, String> {
    match name.rsplit_once('.') {
        Some((package, name)) if !package.is_empty() && !name.is_empty() => Ok(QualifiedName {
            package: package.to_owned(),
            name: name.to_owned(),
        }),
        _ => Err(format!(
            "`{name}` is not an interface name: write `package.Interface`"
        )),
    }
}

fn unknown_interface(model: &Model, name: &str) -> String {
    let names: Vec<String> = model
        .packages
        .iter()
        .flat_map(|p| {
            p.interfaces
                .iter()
                .map(move |i| format!("{}.{}", p.name, i.name))
        })
        .collect();
    format!("no interface `{name}` (interfaces: {})", names.join(", "))
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}
