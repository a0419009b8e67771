//! Small helpers over htmd's html5ever DOM (`markup5ever_rcdom`): tags, attributes,
//! classes, text, and tree search.

use markup5ever_rcdom::{Handle, NodeData};

pub(super) fn tag(node: &Handle) -> Option<&str> {
    match &node.data {
        NodeData::Element { name, .. } => Some(&name.local),
        _ => None,
    }
}

pub(super) fn attr(node: &Handle, key: &str) -> Option<String> {
    match &node.data {
        NodeData::Element { attrs, .. } => attrs
            .borrow()
            .iter()
            .find(|a| &*a.name.local == key)
            .map(|a| a.value.to_string()),
        _ => None,
    }
}

pub(super) fn set_attr(node: &Handle, key: &str, value: &str) -> bool {
    if let NodeData::Element { attrs, .. } = &node.data {
        for a in attrs.borrow_mut().iter_mut() {
            if &*a.name.local == key {
                a.value = value.into();
                return true;
            }
        }
    }
    false
}

pub(super) fn classes(node: &Handle) -> Vec<String> {
    attr(node, "class")
        .map(|c| c.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

pub(super) fn has_class(node: &Handle, class: &str) -> bool {
    classes(node).iter().any(|c| c == class)
}

pub(super) fn children(node: &Handle) -> Vec<Handle> {
    node.children.borrow().clone()
}

pub(super) fn parent(node: &Handle) -> Option<Handle> {
    let weak = node.parent.take();
    let strong = weak.as_ref().and_then(std::rc::Weak::upgrade);
    node.parent.set(weak);
    strong
}

pub(super) fn heading_level(node: &Handle) -> Option<u8> {
    match tag(node)? {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// All text below `node`, leaving out line-number gutters.
pub(super) fn text_of(node: &Handle) -> String {
    let mut out = String::new();
    collect_text(node, &mut out);
    out
}

fn collect_text(node: &Handle, out: &mut String) {
    match &node.data {
        NodeData::Text { contents } => out.push_str(&contents.borrow()),
        NodeData::Element { .. } if has_class(node, "linenos") => {}
        _ => {
            for child in node.children.borrow().iter() {
                collect_text(child, out);
            }
        }
    }
}

pub(super) fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn find_first(node: &Handle, pred: &dyn Fn(&Handle) -> bool) -> Option<Handle> {
    for child in node.children.borrow().iter() {
        if pred(child) {
            return Some(child.clone());
        }
        if let Some(hit) = find_first(child, pred) {
            return Some(hit);
        }
    }
    None
}
