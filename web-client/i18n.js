// Strings of the web client. Chinese first; English with ?lang=en or the toggle.

const STRINGS = {
  zh: {
    appName: '会议',
    joinTitle: '加入会议',
    yourName: '您的名称',
    camera: '摄像头',
    microphone: '麦克风',
    audioOnly: '仅音频（弱网络）',
    join: '加入会议',
    joining: '正在加入…',
    micLevel: '麦克风音量',
    noCamera: '未检测到摄像头',
    mute: '静音',
    unmute: '取消静音',
    cameraOff: '关闭摄像头',
    cameraOn: '开启摄像头',
    share: '共享屏幕',
    stopShare: '停止共享',
    participants: '参会人',
    chat: '聊天',
    leave: '离开会议',
    send: '发送',
    chatPlaceholder: '输入消息…',
    grid: '宫格视图',
    speaker: '演讲者视图',
    you: '我',
    screenOf: '{name} 的屏幕',
    reconnecting: '网络中断，正在重新连接…',
    connected: '已连接',
    left: '您已离开会议。',
    ended: '会议已结束。',
    rejoin: '重新加入',
    errorPrefix: '出错：',
    noToken: '请使用会议通知中的入会链接打开本页面。',
    demoRoom: '会议室名称（演示模式）',
    quality: ['网络很差', '网络较差', '网络一般', '网络良好'],
    muted: '已静音',
    offline: '连接中断',
    roles: { chair: '主席', secretary: '会务', venue: '会场', participant: '参会人', observer: '列席' },
    language: 'English',
  },
  en: {
    appName: 'Huiyi',
    joinTitle: 'Join the meeting',
    yourName: 'Your name',
    camera: 'Camera',
    microphone: 'Microphone',
    audioOnly: 'Audio only (weak network)',
    join: 'Join',
    joining: 'Joining…',
    micLevel: 'Microphone level',
    noCamera: 'No camera found',
    mute: 'Mute',
    unmute: 'Unmute',
    cameraOff: 'Camera off',
    cameraOn: 'Camera on',
    share: 'Share screen',
    stopShare: 'Stop sharing',
    participants: 'Participants',
    chat: 'Chat',
    leave: 'Leave',
    send: 'Send',
    chatPlaceholder: 'Type a message…',
    grid: 'Grid',
    speaker: 'Speaker',
    you: 'me',
    screenOf: "{name}'s screen",
    reconnecting: 'Connection lost, reconnecting…',
    connected: 'Connected',
    left: 'You left the meeting.',
    ended: 'The meeting has ended.',
    rejoin: 'Rejoin',
    errorPrefix: 'Error: ',
    noToken: 'Open this page with the join link from your meeting notice.',
    demoRoom: 'Room name (demo mode)',
    quality: ['Very poor network', 'Poor network', 'Fair network', 'Good network'],
    muted: 'Muted',
    offline: 'Disconnected',
    roles: { chair: 'Chair', secretary: 'Secretary', venue: 'Venue', participant: 'Participant', observer: 'Observer' },
    language: '中文',
  },
};

let lang = new URLSearchParams(location.search).get('lang') || localStorage.getItem('huiyi.lang') || 'zh';
if (!STRINGS[lang]) lang = 'zh';

export function t(key, vars = {}) {
  let s = STRINGS[lang][key] ?? STRINGS.zh[key] ?? key;
  if (typeof s === 'string') for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, v);
  return s;
}

export function currentLang() { return lang; }

export function toggleLang() {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('huiyi.lang', lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

/// Fills every element with a data-i18n attribute.
export function applyStrings(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}
