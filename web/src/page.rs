//! What the page (`web/www/app.js`) calls: [`Page`] holds the data set, the browser's WebGPU adapter and the run
//! ([`Session`]). Its quick calls return at once (JSON for the page); the ones that must wait for the GPU (opening a
//! device, reading weights, the kernel checks) return a `Promise`, and the session is taken out of the page while
//! one runs, so a second call says the page is busy instead of racing it.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::data::{self, Dataset, LoadOptions};
use gpu_mnist::gpu::check::CheckFamily;
use gpu_mnist::gpu::{BackendChoice, ContextOptions, GpuContext};
use gpu_mnist::model::Params;
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::session::{predict_png, RunParts, Session, Settings};

/// The page's state.
struct State {
    data: Dataset,
    /// Whether the browser gave a WebGPU adapter (each device is opened on a fresh one: WebGPU lets an adapter
    /// open one device only).
    gpu: bool,
    /// What the page says of the adapter (or of its absence).
    adapter_text: String,
    session: Option<Session>,
    /// The weights the digit pad classifies with: the run's as read at its last epoch boundary (or the loaded
    /// checkpoint's), so the pad keeps working while the next epoch trains.
    params: Option<Params>,
    /// The device the kernel checks run on (opened by the first).
    check_ctx: Option<GpuContext>,
}

/// The page's side of the library.
#[wasm_bindgen]
pub struct Page {
    state: Rc<RefCell<State>>,
}

fn js(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// Makes the run of `parts` (continuing `ck` if given) the page's: on a device opened for it if the page has a GPU,
/// else on the CPU reference. The digit pad then classifies with `ck`'s weights, or waits for the run's first epoch.
async fn open_session(state: &Rc<RefCell<State>>, parts: RunParts, ck: Option<&Checkpoint>) -> Result<(), JsValue> {
    let gpu = state.borrow().gpu;
    let ctx = if gpu { Some(context_for(&parts).await?) } else { None };
    let session = Session::new(parts, ctx.as_ref(), ck).map_err(js)?;
    let mut s = state.borrow_mut();
    (s.session, s.params) = (Some(session), ck.map(|ck| ck.params.clone()));
    Ok(())
}

/// Opens a device with the limits the run of `parts` needs, on a fresh adapter.
async fn context_for(parts: &RunParts) -> Result<GpuContext, JsValue> {
    let layout = parts.layout().map_err(js)?;
    let options = ContextOptions::new(BackendChoice::Auto).for_run(&layout, &parts.data);
    let adapter = crate::webgpu_adapter_handle().await.map_err(js)?;
    GpuContext::on_adapter(&adapter, &options).await.map_err(js)
}

#[wasm_bindgen]
impl Page {
    /// The page over the four MNIST files it fetched (gzipped IDX, parsed by the library's parser) and, unless
    /// `use_cpu`, the browser's WebGPU adapter (none: the page trains on the CPU reference and says why).
    pub async fn open(
        train_images: Vec<u8>,
        train_labels: Vec<u8>,
        test_images: Vec<u8>,
        test_labels: Vec<u8>,
        use_cpu: bool,
    ) -> Result<Page, JsValue> {
        let files = [&train_images[..], &train_labels, &test_images, &test_labels];
        let data = data::load_gz_bytes("mnist", files, &LoadOptions::default()).map_err(js)?;
        let (gpu, adapter_text) = match use_cpu {
            true => (false, "CPU reference (wasm), as asked".to_owned()),
            false => match crate::webgpu_adapter_handle().await {
                Ok(a) => {
                    let info = a.get_info();
                    let name = if info.name.is_empty() { "an unnamed adapter" } else { &info.name };
                    let mut text = format!("WebGPU: {name} ({:?} device)", info.device_type);
                    if info.device_type == wgpu::DeviceType::Cpu {
                        text += ", a GPU emulated on the CPU: the CPU reference (Device: CPU) trains faster here";
                    }
                    (true, text)
                }
                Err(e) => (false, format!("{e}. Training on the CPU reference (wasm) instead: slower, same numbers")),
            },
        };
        let state = State { data, gpu, adapter_text, session: None, params: None, check_ctx: None };
        Ok(Page { state: Rc::new(RefCell::new(state)) })
    }

    /// What the page trains on: the adapter's name, or why there is none.
    pub fn adapter(&self) -> String {
        self.state.borrow().adapter_text.clone()
    }

    /// Whether it trains on a GPU.
    pub fn has_gpu(&self) -> bool {
        self.state.borrow().gpu
    }

    /// Starts a new run of `settings` (JSON of [`Settings`]) from its seeded initial weights.
    pub fn start(&self, settings: String) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let settings: Settings = serde_json::from_str(&settings).map_err(js)?;
            let parts = RunParts::from_settings(&settings, &state.borrow().data).map_err(js)?;
            open_session(&state, parts, None).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Loads a checkpoint file (as `gpu-mnist train --save` writes it) to classify with and to train on, to `epochs`
    /// epochs in all; resolves to its description.
    pub fn load(&self, bytes: Vec<u8>, epochs: usize) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let ck = Checkpoint::load_bytes(Path::new("uploaded checkpoint"), &bytes).map_err(js)?;
            let parts = RunParts::from_checkpoint(&ck, epochs, &state.borrow().data).map_err(js)?;
            open_session(&state, parts, Some(&ck)).await?;
            Ok(JsValue::from_str(&format!(
                "{}, {} epochs on {} training digits",
                ck.model.describe(),
                ck.epoch,
                ck.train_samples
            )))
        })
    }

    /// One turn of the training loop (never waits): JSON of [`crate::session::Report`].
    pub fn advance(&self) -> Result<String, JsValue> {
        let mut s = self.state.borrow_mut();
        let session = s.session.as_mut().ok_or_else(|| js("no run: start one, or load a checkpoint"))?;
        serde_json::to_string(&session.advance().map_err(js)?).map_err(js)
    }

    /// Reads the run's weights for the digit pad (between epochs); resolves when they are read.
    pub fn refresh_weights(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let mut session = take_session(&state)?;
            let params = session.params().await;
            let mut s = state.borrow_mut();
            s.session = Some(session);
            s.params = Some(params.map_err(js)?);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The classes of a drawn digit (the canvas as PNG bytes), most probable first: JSON `[[class, p], …]`, made the
    /// way `gpu-mnist predict` makes it.
    pub fn predict(&self, png: &[u8]) -> Result<String, JsValue> {
        let s = self.state.borrow();
        let (Some(session), Some(params)) = (&s.session, &s.params) else {
            return Err(js("no trained weights yet: train an epoch, or load a checkpoint"));
        };
        let (model, preprocess, normalize) = session.model();
        let ranked = predict_png(model, params, preprocess, normalize, png).map_err(js)?;
        serde_json::to_string(&ranked).map_err(js)
    }

    /// The run as a checkpoint file (between epochs): resolves to its bytes (a `Uint8Array`).
    pub fn checkpoint(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let mut session = take_session(&state)?;
            let bytes = session.checkpoint_bytes().await;
            state.borrow_mut().session = Some(session);
            Ok(js_sys::Uint8Array::from(&bytes.map_err(js)?[..]).into())
        })
    }

    /// How many families `gpu-mnist check` runs ([`Page::check_family`]'s indices).
    pub fn check_families(&self) -> usize {
        CheckFamily::ALL.len()
    }

    /// Family `index` of `gpu-mnist check`'s table on this adapter, compared by the library's own code (the page
    /// runs them one after the other, filling its table in). Resolves to JSON of [`crate::checks::FamilyRows`].
    pub fn check_family(&self, index: usize) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let family = *CheckFamily::ALL.get(index).ok_or_else(|| js(format!("no check family {index}")))?;
            let ctx = check_context(&state).await?;
            let rows = crate::checks::check_family(&ctx, family).await.map_err(js)?;
            serde_json::to_string(&rows).map(JsValue::from).map_err(js)
        })
    }
}

/// The page's session, taken out while an awaited call uses it.
fn take_session(state: &Rc<RefCell<State>>) -> Result<Session, JsValue> {
    state.borrow_mut().session.take().ok_or_else(|| js("no run, or the page is busy with it"))
}

/// The kernel checks' device: opened on the page's adapter by the first check, then kept.
async fn check_context(state: &Rc<RefCell<State>>) -> Result<GpuContext, JsValue> {
    let (kept, gpu) = {
        let s = state.borrow();
        (s.check_ctx.clone(), s.gpu)
    };
    if let Some(ctx) = kept {
        return Ok(ctx);
    }
    if !gpu {
        return Err(js("no WebGPU adapter: the kernel checks need one"));
    }
    let adapter = crate::webgpu_adapter_handle().await.map_err(js)?;
    let options = ContextOptions { allow_software: true, ..ContextOptions::new(BackendChoice::Auto) };
    let ctx = GpuContext::on_adapter(&adapter, &options).await.map_err(js)?;
    state.borrow_mut().check_ctx = Some(ctx.clone());
    Ok(ctx)
}
