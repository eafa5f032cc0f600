// The app's words in English and Chinese; the browser's language picks, the user may switch.

const WORDS = {
  en: {
    app: "fieldsync",
    sign_in: "Sign in",
    email: "E-mail",
    password: "Password",
    sign_out: "Sign out",
    customers: "Customers",
    search: "Search by name, number, city or phone",
    new_customer: "New customer",
    name: "Name",
    territory: "Territory",
    phone: "Phone",
    city: "City",
    street: "Street",
    code: "Customer number",
    status: "Status",
    notes: "Notes",
    save: "Save",
    cancel: "Cancel",
    edit: "Edit",
    sync: "Sync",
    sync_now: "Sync now",
    syncing: "Syncing…",
    last_sync: "Last sync",
    never: "never",
    waiting: "Changes waiting",
    refused: "Refused",
    conflicts: "Conflicts",
    no_conflicts: "No field holds two values.",
    no_refusals: "Nothing was refused.",
    offline: "Offline: your changes are kept on this phone and sync when the network is back.",
    not_synced: "not synced yet",
    contacts: "Contacts",
    both_values: "Values written at once on two devices; the first is shown",
    synced_report: "Sent {pushed}, received {pulled}, refused {refused}.",
    restored: "The server was restored from a backup: this phone's changes were sent again.",
    wiped: "This device was revoked: its data was deleted.",
    language: "中文",
    nothing_found: "No customer matches.",
    count: "{n} customers",
    title: "Title",
    buying_role: "Role in the purchase",
    decision_maker: "Decision maker",
    new_contact: "New contact",
    nearby: "Nearby",
    position_unavailable: "The phone's position is not available.",
  },
  zh: {
    app: "fieldsync",
    sign_in: "登录",
    email: "电子邮件",
    password: "密码",
    sign_out: "退出",
    customers: "客户",
    search: "按名称、编号、城市或电话搜索",
    new_customer: "新客户",
    name: "名称",
    territory: "区域",
    phone: "电话",
    city: "城市",
    street: "街道",
    code: "客户编号",
    status: "状态",
    notes: "备注",
    save: "保存",
    cancel: "取消",
    edit: "编辑",
    sync: "同步",
    sync_now: "立即同步",
    syncing: "同步中…",
    last_sync: "上次同步",
    never: "从未",
    waiting: "待同步的更改",
    refused: "被拒绝",
    conflicts: "冲突",
    no_conflicts: "没有字段同时有两个值。",
    no_refusals: "没有被拒绝的内容。",
    offline: "离线：更改保存在本机，网络恢复后同步。",
    not_synced: "尚未同步",
    contacts: "联系人",
    both_values: "两台设备同时写入的值；显示第一个",
    synced_report: "已发送 {pushed}，已接收 {pulled}，被拒绝 {refused}。",
    restored: "服务器已从备份恢复：本机的更改已重新发送。",
    wiped: "此设备已被吊销：其数据已删除。",
    language: "English",
    nothing_found: "没有匹配的客户。",
    count: "{n} 个客户",
    title: "职位",
    buying_role: "采购角色",
    decision_maker: "决策人",
    new_contact: "新联系人",
    nearby: "附近",
    position_unavailable: "无法获取手机位置。",
  },
};

let lang = localStorage.getItem("fieldsync-lang") ?? (navigator.language.startsWith("zh") ? "zh" : "en");

export function t(key, values = {}) {
  const text = WORDS[lang][key] ?? WORDS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ""));
}

export function language() {
  return lang;
}

export function toggle() {
  lang = lang === "en" ? "zh" : "en";
  localStorage.setItem("fieldsync-lang", lang);
  document.documentElement.lang = lang;
}
