#include "model/statedictunpickler_p.h"

#include <cstring>
#include <deque>
#include <map>
#include <stdexcept>
#include <unordered_map>

namespace leantune {

namespace {

// What a pickle may build. Honest files stay far below: resnet18's checkpoint (model, momentum,
// masks) is ~4,000 values 6 levels deep; a state_dict key is under 100 bytes.
constexpr std::size_t MaxDepth = 200; // nested containers, and nested marks
constexpr std::size_t MaxStack = std::size_t(1) << 20; // stack entries
constexpr std::size_t MaxMemo = std::size_t(1) << 19; // memo entries
constexpr std::size_t MaxValues = std::size_t(1) << 19; // values built (or visited when written)
constexpr std::uint64_t MaxString = 4 * 1024 * 1024;
constexpr std::size_t MaxKeyBytes = 1024; // a state_dict key, an attribute name, a storage key
constexpr std::size_t MaxDims = 64;
constexpr int MaxArchiveDepth = 64; // nested archives and values inside a module archive
constexpr std::size_t MaxArchives = 16384; // nested archives written (resnet18's checkpoint: ~250)
constexpr std::int64_t MaxSpan = std::int64_t(1) << 40; // an empty tensor's sizes, 0 counted as 1
// Memory the values and the memo may take: a fixed allowance plus twice the pickle's size. With the
// pickle itself, a crafted file costs at most ~80 MiB over the program's own ~170 MiB.
constexpr std::uint64_t BudgetBase = 16 * 1024 * 1024;
constexpr std::uint64_t MemoEntryBytes = 48; // an unordered_map node and its bucket
// Bytes tensors may copy out of storages beyond the storages' own size (views that are not the
// whole storage are cloned).
constexpr std::uint64_t CloneAllowance = 64 * 1024 * 1024;

// A refusal of something a state_dict or LeanTune archive never holds: nothing was called.
struct Refused : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// A malformed pickle, or one over a limit above.
struct Malformed : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// VALUE, from the file, as a message shows it: quoted, at most 80 bytes (cut at a character
// boundary) followed by its length, control characters as '?'.
std::string quote(const std::string &value)
{
    constexpr std::size_t MaxQuoted = 80;
    std::size_t n = std::min(value.size(), MaxQuoted);
    if (n < value.size())
        while (n > 0 && (std::uint8_t(value[n]) & 0xc0) == 0x80)
            --n; // not inside a UTF-8 sequence
    std::string out = "'" + value.substr(0, n);
    for (std::size_t k = 1; k < out.size(); ++k)
        if (std::uint8_t(out[k]) < 0x20 || out[k] == 0x7f)
            out[k] = '?';
    out += '\'';
    if (n < value.size())
        out += "... (" + std::to_string(value.size()) + " bytes)";
    return out;
}

using Ref = std::uint32_t; // index of a value in the unpickler's arena

enum class Kind : std::uint8_t {
    None,
    Bool,
    Int,
    Float,
    String,
    Tuple,
    List,
    Dict,
    Global,
    Storage,
    Tensor,
    Object,
};

// The element (list) or value (dict with string keys) type TorchScript tags a container with.
enum class Elem : std::uint8_t { Untagged, Int, Float, Bool, String, Tensor };

// The globals a pickle may name.
enum class Callable : std::uint8_t {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    StorageType,
    IntList,
    DoubleList,
    BoolList,
    TensorList,
    RestoreTypeTag,
    TorchClass, // a `__torch__.` class: only instantiated empty by NEWOBJ, never called
};

// One value. All values live in the unpickler's arena and refer to each other by index, so
// neither building nor freeing them recurses, and shared or cyclic references cost nothing.
struct Node {
    Kind kind = Kind::None;
    Elem elem = Elem::Untagged; // List, Dict
    Callable callable = Callable::OrderedDict; // Global
    std::uint32_t depth = 0; // containers nested inside, as known when last changed
    std::int64_t i = 0; // Bool, Int; String, Global, Object: m_strings; Storage, Tensor: m_tensors
    double f = 0.0; // Float
    std::vector<Ref> items; // Tuple, List; Dict and Object: key, value, key, value, ...
};

std::optional<torch::ScalarType> storageType(const std::string &name)
{
    static const std::map<std::string, torch::ScalarType> types {
        { "torch.FloatStorage", torch::kFloat },
        { "torch.DoubleStorage", torch::kDouble },
        { "torch.HalfStorage", torch::kHalf },
        { "torch.BFloat16Storage", torch::kBFloat16 },
        { "torch.LongStorage", torch::kLong },
        { "torch.IntStorage", torch::kInt },
        { "torch.ShortStorage", torch::kShort },
        { "torch.CharStorage", torch::kChar },
        { "torch.ByteStorage", torch::kByte },
        { "torch.BoolStorage", torch::kBool },
    };
    const auto it = types.find(name);
    return it == types.end() ? std::nullopt : std::optional<torch::ScalarType>(it->second);
}

std::optional<Callable> allowedGlobal(const std::string &name)
{
    static const std::map<std::string, Callable> callables {
        { "collections.OrderedDict", Callable::OrderedDict },
        { "torch._utils._rebuild_tensor_v2", Callable::RebuildTensor },
        { "torch._utils._rebuild_parameter", Callable::RebuildParameter },
        { "torch.jit._pickle.build_intlist", Callable::IntList },
        { "torch.jit._pickle.build_doublelist", Callable::DoubleList },
        { "torch.jit._pickle.build_boollist", Callable::BoolList },
        { "torch.jit._pickle.build_tensorlist", Callable::TensorList },
        { "torch.jit._pickle.restore_type_tag", Callable::RestoreTypeTag },
    };
    const auto it = callables.find(name);
    if (it != callables.end())
        return it->second;
    if (storageType(name))
        return Callable::StorageType;
    static const std::string torchPrefix = "__torch__.";
    if (name.size() > torchPrefix.size() && name.size() <= MaxKeyBytes
        && name.compare(0, torchPrefix.size(), torchPrefix) == 0
        && name.find_first_not_of(
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
            == std::string::npos)
        return Callable::TorchClass;
    return std::nullopt;
}

std::string toHex(std::uint8_t op)
{
    static const char digits[] = "0123456789abcdef";
    return { digits[op >> 4], digits[op & 15] };
}

std::int64_t checkedMul(std::int64_t a, std::int64_t b)
{
    std::int64_t out = 0;
    if (__builtin_mul_overflow(a, b, &out))
        throw Malformed("malformed pickle (tensor size overflows)");
    return out;
}
std::int64_t checkedAdd(std::int64_t a, std::int64_t b)
{
    std::int64_t out = 0;
    if (__builtin_add_overflow(a, b, &out))
        throw Malformed("malformed pickle (tensor size overflows)");
    return out;
}

// Runs a pickle's opcodes over an arena of values. Only the opcodes and globals of a state_dict
// and of a LibTorch module archive are known; every size, count and depth is bounded.
class Unpickler {
public:
    Unpickler(const std::string &data, const StorageReader &read)
        : m_data(data)
        , m_read(read)
        , m_budget(BudgetBase + 2 * std::uint64_t(data.size()))
    {
        if (data.size() > kMaxPickleBytes)
            throw Malformed("the pickle is " + std::to_string(data.size())
                + " bytes, more than a weight file's pickle may have ("
                + std::to_string(kMaxPickleBytes >> 20) + " MiB)");
        // Shared immutable values: None, False, True, ().
        newNode(Kind::None);
        newNode(Kind::Bool).i = 0;
        newNode(Kind::Bool).i = 1;
        newNode(Kind::Tuple);
    }

    const Node &node(Ref r) const { return m_nodes[r]; }
    const std::string &string(Ref r) const { return m_strings[std::size_t(m_nodes[r].i)]; }
    const torch::Tensor &tensor(Ref r) const { return m_tensors[std::size_t(m_nodes[r].i)]; }

    Ref run()
    {
        for (;;) {
            const auto op = std::uint8_t(byte());
            switch (op) {
            case 0x80: // PROTO
                byte();
                break;
            case 0x95: // FRAME
                bytes(8);
                break;
            case '(': // MARK
                if (m_marks.size() >= MaxDepth)
                    throw Malformed(
                        "the pickle nests more than " + std::to_string(MaxDepth) + " levels deep");
                m_marks.push_back(m_stack.size());
                break;
            case '.': // STOP
                return pop();
            case '0': // POP
                pop();
                break;
            case '1': // POP_MARK
                popMark();
                break;
            case ')': // EMPTY_TUPLE
                push(EmptyTuple);
                break;
            case 't': // TUPLE
                push(sequence(Kind::Tuple, popMark()));
                break;
            case 0x85: // TUPLE1
            case 0x86: // TUPLE2
            case 0x87: { // TUPLE3
                std::vector<Ref> items(op - 0x84);
                for (auto it = items.rbegin(); it != items.rend(); ++it)
                    *it = pop();
                push(sequence(Kind::Tuple, std::move(items)));
                break;
            }
            case ']': // EMPTY_LIST
                push(newRef(Kind::List));
                break;
            case 'l': // LIST
                push(sequence(Kind::List, popMark()));
                break;
            case 'a': { // APPEND
                const Ref item = pop();
                addItems(expect(top(), Kind::List, "APPEND"), { item });
                break;
            }
            case 'e': { // APPENDS
                const std::vector<Ref> items = popMark();
                addItems(expect(top(), Kind::List, "APPENDS"), items);
                break;
            }
            case '}': // EMPTY_DICT
                push(newRef(Kind::Dict));
                break;
            case 'd': { // DICT
                const std::vector<Ref> items = popMark();
                const Ref dict = newRef(Kind::Dict);
                addPairs(dict, items);
                push(dict);
                break;
            }
            case 's': { // SETITEM
                const Ref value = pop();
                const Ref key = pop();
                addPairs(expect(top(), Kind::Dict, "SETITEM"), { key, value });
                break;
            }
            case 'u': { // SETITEMS
                const std::vector<Ref> items = popMark();
                addPairs(expect(top(), Kind::Dict, "SETITEMS"), items);
                break;
            }
            case 'N':
                push(NoneRef);
                break;
            case 0x88: // NEWTRUE
                push(TrueRef);
                break;
            case 0x89: // NEWFALSE
                push(FalseRef);
                break;
            case 'K': // BININT1
                pushInt(std::uint8_t(byte()));
                break;
            case 'M': // BININT2
                pushInt(std::int64_t(littleEndian(2)));
                break;
            case 'J': // BININT
                pushInt(std::int32_t(std::uint32_t(littleEndian(4))));
                break;
            case 0x8a: { // LONG1
                const int n = std::uint8_t(byte());
                if (n > 8)
                    throw Malformed("malformed pickle (integer too large)");
                std::uint64_t u = n ? littleEndian(n) : 0;
                if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1)
                    u |= ~std::uint64_t(0) << (8 * n); // sign-extend
                pushInt(std::int64_t(u));
                break;
            }
            case 'G': { // BINFLOAT, big-endian
                std::uint64_t u = 0;
                for (const char c : bytes(8))
                    u = (u << 8) | std::uint8_t(c);
                const Ref v = newRef(Kind::Float);
                std::memcpy(&m_nodes[v].f, &u, sizeof u);
                push(v);
                break;
            }
            case 'X': // BINUNICODE
            case 'T': // BINSTRING
                pushString(littleEndian(4));
                break;
            case 0x8c: // SHORT_BINUNICODE
            case 'U': // SHORT_BINSTRING
                pushString(std::uint8_t(byte()));
                break;
            case 0x8d: // BINUNICODE8
                pushString(littleEndian(8));
                break;
            case 'q': // BINPUT
                memoize(std::uint8_t(byte()));
                break;
            case 'r': // LONG_BINPUT
                memoize(std::uint32_t(littleEndian(4)));
                break;
            case 0x94: // MEMOIZE
                memoize(std::uint32_t(m_memo.size()));
                break;
            case 'h': // BINGET
                push(memo(std::uint8_t(byte())));
                break;
            case 'j': // LONG_BINGET
                push(memo(std::uint32_t(littleEndian(4))));
                break;
            case 'c': { // GLOBAL module\nname\n
                const std::string module = line();
                pushGlobal(module + '.' + line());
                break;
            }
            case 0x93: { // STACK_GLOBAL
                const Ref name = expect(pop(), Kind::String, "STACK_GLOBAL");
                const Ref module = expect(pop(), Kind::String, "STACK_GLOBAL");
                pushGlobal(string(module) + '.' + string(name));
                break;
            }
            case 'Q': // BINPERSID
                push(storage(pop()));
                break;
            case 'R': { // REDUCE
                const Ref args = expect(pop(), Kind::Tuple, "REDUCE");
                const Ref callable = expect(pop(), Kind::Global, "REDUCE");
                push(reduce(callable, args));
                break;
            }
            case 0x81: { // NEWOBJ: an empty instance of a `__torch__` class, filled by BUILD
                const Ref args = expect(pop(), Kind::Tuple, "NEWOBJ");
                const Ref cls = expect(pop(), Kind::Global, "NEWOBJ");
                if (m_nodes[cls].callable != Callable::TorchClass || !m_nodes[args].items.empty())
                    throw Refused("unexpected instance of " + quote(string(cls)));
                const Ref object = newRef(Kind::Object);
                m_nodes[object].i = m_nodes[cls].i;
                push(object);
                break;
            }
            case 'b': { // BUILD
                const Ref state = pop();
                build(top(), state);
                break;
            }
            default:
                throw Refused("opcode 0x" + toHex(op) + " at byte " + std::to_string(m_pos - 1)
                    + ", which a state_dict does not use");
            }
        }
    }

private:
    static constexpr Ref NoneRef = 0, FalseRef = 1, TrueRef = 2, EmptyTuple = 3;

    void charge(std::uint64_t bytes)
    {
        m_used += bytes;
        if (m_used > m_budget)
            throw Malformed("the pickle builds more than " + std::to_string(m_budget >> 20)
                + " MiB of values from " + std::to_string(m_data.size())
                + " bytes (a crafted file?)");
    }

    Node &newNode(Kind kind)
    {
        if (m_nodes.size() >= MaxValues)
            throw Malformed("the pickle builds more than " + std::to_string(MaxValues) + " values");
        charge(sizeof(Node));
        m_nodes.emplace_back().kind = kind;
        return m_nodes.back();
    }
    Ref newRef(Kind kind)
    {
        newNode(kind);
        return Ref(m_nodes.size() - 1);
    }

    char byte()
    {
        if (m_pos >= m_data.size())
            throw Malformed("the pickle ends early (truncated file?)");
        return m_data[m_pos++];
    }
    std::string bytes(std::uint64_t n)
    {
        if (n > m_data.size() - m_pos)
            throw Malformed("the pickle ends early (truncated file?)");
        std::string out = m_data.substr(m_pos, n);
        m_pos += n;
        return out;
    }
    std::uint64_t littleEndian(int n)
    {
        if (std::uint64_t(n) > m_data.size() - m_pos)
            throw Malformed("the pickle ends early (truncated file?)");
        std::uint64_t u = 0;
        for (int k = n - 1; k >= 0; --k)
            u = (u << 8) | std::uint8_t(m_data[m_pos + std::size_t(k)]);
        m_pos += std::size_t(n);
        return u;
    }
    std::string line()
    {
        const std::size_t end = m_data.find('\n', m_pos);
        if (end == std::string::npos)
            throw Malformed("the pickle ends early (truncated file?)");
        std::string out = m_data.substr(m_pos, end - m_pos);
        m_pos = end + 1;
        return out;
    }

    void push(Ref v)
    {
        if (m_stack.size() >= MaxStack)
            throw Malformed(
                "the pickle's stack grows beyond " + std::to_string(MaxStack) + " entries");
        m_stack.push_back(v);
    }
    Ref top() const
    {
        if (m_stack.empty() || (!m_marks.empty() && m_marks.back() >= m_stack.size()))
            throw Malformed("malformed pickle (stack underflow)");
        return m_stack.back();
    }
    Ref pop()
    {
        const Ref v = top();
        m_stack.pop_back();
        return v;
    }
    std::vector<Ref> popMark()
    {
        if (m_marks.empty())
            throw Malformed("malformed pickle (no mark)");
        const std::size_t mark = m_marks.back();
        m_marks.pop_back();
        std::vector<Ref> items(m_stack.begin() + std::ptrdiff_t(mark), m_stack.end());
        m_stack.resize(mark);
        return items;
    }
    void memoize(std::uint32_t key)
    {
        const Ref v = top();
        const auto it = m_memo.find(key);
        if (it != m_memo.end()) {
            it->second = v;
            return;
        }
        if (m_memo.size() >= MaxMemo)
            throw Malformed(
                "the pickle's memo grows beyond " + std::to_string(MaxMemo) + " entries");
        charge(MemoEntryBytes);
        m_memo.emplace(key, v);
    }
    Ref memo(std::uint32_t key) const
    {
        const auto it = m_memo.find(key);
        if (it == m_memo.end())
            throw Malformed("malformed pickle (unknown memo entry)");
        return it->second;
    }
    Ref expect(Ref v, Kind kind, const char *what) const
    {
        if (m_nodes[v].kind != kind)
            throw Malformed(std::string("malformed pickle (unexpected value for ") + what + ')');
        return v;
    }

    // The depth a container holding CHILD has at least; refuses beyond MaxDepth.
    std::uint32_t depthAbove(Ref child) const
    {
        const std::uint32_t d = m_nodes[child].depth + 1;
        if (d > MaxDepth)
            throw Malformed(
                "the pickle nests more than " + std::to_string(MaxDepth) + " levels deep");
        return d;
    }
    void addItems(Ref container, const std::vector<Ref> &items)
    {
        charge(items.size() * sizeof(Ref));
        std::uint32_t depth = m_nodes[container].depth;
        for (const Ref item : items)
            depth = std::max(depth, depthAbove(item));
        Node &n = m_nodes[container];
        n.depth = depth;
        n.items.insert(n.items.end(), items.begin(), items.end());
    }
    void addPairs(Ref dict, const std::vector<Ref> &items)
    {
        if (items.size() % 2)
            throw Malformed("malformed pickle (odd dict items)");
        addItems(dict, items);
    }
    Ref sequence(Kind kind, std::vector<Ref> items)
    {
        const Ref v = newRef(kind);
        addItems(v, items);
        return v;
    }
    void pushInt(std::int64_t i)
    {
        // Small integers (sizes, strides, offsets) are shared.
        if (i >= 0 && i < std::int64_t(std::size(m_smallInts))) {
            Ref &cached = m_smallInts[std::size_t(i)];
            if (cached == 0) {
                cached = newRef(Kind::Int);
                m_nodes[cached].i = i;
            }
            push(cached);
            return;
        }
        const Ref v = newRef(Kind::Int);
        m_nodes[v].i = i;
        push(v);
    }
    void pushString(std::uint64_t size)
    {
        if (size > MaxString)
            throw Malformed("the pickle holds a string of " + std::to_string(size)
                + " bytes, more than " + std::to_string(MaxString >> 20) + " MiB");
        charge(size);
        std::string s = bytes(size);
        const Ref v = newRef(Kind::String);
        m_nodes[v].i = std::int64_t(m_strings.size());
        m_strings.push_back(std::move(s));
        push(v);
    }
    void pushGlobal(const std::string &name)
    {
        const std::optional<Callable> callable = allowedGlobal(name);
        if (!callable)
            throw Refused("the pickle names " + quote(name)
                + ", which a state_dict never uses; refused, nothing was run");
        charge(name.size());
        const Ref v = newRef(Kind::Global);
        m_nodes[v].callable = *callable;
        m_nodes[v].i = std::int64_t(m_strings.size());
        m_strings.push_back(name);
        push(v);
    }
    std::int64_t integer(Ref v) const { return m_nodes[expect(v, Kind::Int, "an integer")].i; }
    std::vector<std::int64_t> integers(Ref v) const
    {
        const std::vector<Ref> &items = m_nodes[expect(v, Kind::Tuple, "a shape")].items;
        if (items.size() > MaxDims)
            throw Malformed("malformed pickle (a tensor of more than 64 dimensions)");
        std::vector<std::int64_t> out;
        for (const Ref item : items) {
            out.push_back(integer(item));
            if (out.back() < 0)
                throw Malformed("malformed pickle (negative size or stride)");
        }
        return out;
    }

    // ('storage', torch.FloatStorage, key, location, numel): the storage record data/KEY.
    Ref storage(Ref pid)
    {
        const std::vector<Ref> &t = m_nodes[expect(pid, Kind::Tuple, "BINPERSID")].items;
        if (t.size() != 5 || m_nodes[t[0]].kind != Kind::String || string(t[0]) != "storage"
            || m_nodes[t[1]].kind != Kind::Global || m_nodes[t[1]].callable != Callable::StorageType
            || m_nodes[t[2]].kind != Kind::String)
            throw Malformed("malformed pickle (unexpected persistent id)");
        const torch::ScalarType type = *storageType(string(t[1]));
        const std::string key = string(t[2]);
        if (key.empty() || key.size() > MaxKeyBytes || key.find('/') != std::string::npos)
            throw Malformed("malformed pickle (storage key " + quote(key) + ')');
        const std::int64_t numel = integer(t[4]);
        if (numel < 0)
            throw Malformed("malformed pickle (negative storage size)");
        const auto cached = m_storages.find(key);
        if (cached != m_storages.end()) {
            if (tensor(cached->second).scalar_type() != type
                || tensor(cached->second).numel() != numel)
                throw Malformed("malformed pickle (storage " + quote(key)
                    + " named twice with different types or sizes)");
            return cached->second;
        }
        const std::int64_t size = checkedMul(numel, std::int64_t(c10::elementSize(type)));
        const std::optional<std::string> data = m_read(key);
        if (!data)
            throw Malformed("storage record data/" + quote(key) + " is missing");
        if (std::int64_t(data->size()) < size)
            throw Malformed("storage record data/" + quote(key)
                + " is shorter than its tensor (truncated file?)");
        torch::Tensor storage = torch::empty({ numel }, torch::TensorOptions().dtype(type));
        std::memcpy(storage.data_ptr(), data->data(), std::size_t(size));
        m_storageBytes += std::uint64_t(size);
        const Ref v = newRef(Kind::Storage);
        m_nodes[v].i = std::int64_t(m_tensors.size());
        m_tensors.push_back(std::move(storage));
        m_storages.emplace(key, v);
        return v;
    }

    // _rebuild_tensor_v2(storage, offset, size, stride, ...): a view of the storage when it is
    // the whole storage, else a copy; never more elements than the storage has.
    Ref rebuildTensor(const std::vector<Ref> &args)
    {
        if (args.size() < 4)
            throw Malformed("malformed pickle (_rebuild_tensor_v2 with too few arguments)");
        const torch::Tensor &storage = tensor(expect(args[0], Kind::Storage, "a storage"));
        const std::int64_t offset = integer(args[1]);
        const std::vector<std::int64_t> size = integers(args[2]);
        const std::vector<std::int64_t> stride = integers(args[3]);
        if (size.size() != stride.size() || offset < 0)
            throw Malformed("malformed pickle (tensor shape and strides disagree)");
        std::int64_t last = offset, numel = 1, span = 1;
        for (std::size_t d = 0; d < size.size(); ++d) {
            numel = checkedMul(numel, size[d]);
            span = checkedMul(span, std::max<std::int64_t>(size[d], 1));
            if (size[d] > 0)
                last = checkedAdd(last, checkedMul(size[d] - 1, stride[d]));
        }
        // torch's strides multiply the sizes with a 0 counted as 1: an empty [2^40, 2^40, 0]
        // would overflow them.
        if (span >= MaxSpan)
            throw Malformed("malformed pickle (tensor sizes too large)");
        if (numel > storage.numel() || (numel > 0 && last >= storage.numel()))
            throw Malformed("malformed pickle (tensor outside its storage)");
        torch::Tensor t;
        if (numel == 0) {
            t = torch::empty(size, storage.options());
        } else {
            t = storage.as_strided(size, stride, offset);
            if (offset != 0 || numel != storage.numel() || !t.is_contiguous()) {
                m_cloneBytes += std::uint64_t(numel) * storage.element_size();
                if (m_cloneBytes > m_storageBytes + CloneAllowance)
                    throw Malformed("the pickle's tensors copy their storages over and over "
                                    "(a crafted file?)");
                t = t.clone();
            }
        }
        const Ref v = newRef(Kind::Tensor);
        m_nodes[v].i = std::int64_t(m_tensors.size());
        m_tensors.push_back(std::move(t));
        return v;
    }

    // A TorchScript list builder or type tag: the list (or dict) itself, tagged and checked.
    Ref tagged(Ref container, Elem elem)
    {
        static const std::map<Elem, Kind> kinds { { Elem::Int, Kind::Int },
            { Elem::Float, Kind::Float }, { Elem::Bool, Kind::Bool },
            { Elem::String, Kind::String }, { Elem::Tensor, Kind::Tensor } };
        Node &n = m_nodes[container];
        const bool dict = n.kind == Kind::Dict;
        for (std::size_t k = 0; k < n.items.size(); ++k) {
            const Kind want = dict && k % 2 == 0 ? Kind::String : kinds.at(elem);
            if (m_nodes[n.items[k]].kind != want)
                throw Malformed("malformed pickle (a typed list or dict holds another type)");
        }
        n.elem = elem;
        return container;
    }
    Ref typeTag(Ref value, const std::string &type)
    {
        static const std::map<std::string, Elem> elems { { "int", Elem::Int },
            { "float", Elem::Float }, { "bool", Elem::Bool }, { "str", Elem::String },
            { "Tensor", Elem::Tensor } };
        const Kind kind = m_nodes[value].kind;
        for (const auto &[name, elem] : elems) {
            if ((kind == Kind::List && type == "List[" + name + "]")
                || (kind == Kind::Dict && type == "Dict[str, " + name + "]"))
                return tagged(value, elem);
        }
        throw Refused("a value of type " + quote(type) + ", which LeanTune's archives never hold");
    }

    Ref reduce(Ref callable, Ref argsRef)
    {
        const std::vector<Ref> args = m_nodes[argsRef].items;
        const auto onlyArgument = [&](Kind kind) {
            if (args.size() != 1)
                throw Malformed(
                    "malformed pickle (unexpected arguments of " + quote(string(callable)) + ')');
            return expect(args[0], kind, "a list");
        };
        switch (m_nodes[callable].callable) {
        case Callable::OrderedDict:
            if (!args.empty())
                break;
            return newRef(Kind::Dict);
        case Callable::RebuildParameter:
            if (args.empty())
                break;
            return expect(args[0], Kind::Tensor, "_rebuild_parameter");
        case Callable::RebuildTensor:
            return rebuildTensor(args);
        case Callable::IntList:
            return tagged(onlyArgument(Kind::List), Elem::Int);
        case Callable::DoubleList:
            return tagged(onlyArgument(Kind::List), Elem::Float);
        case Callable::BoolList:
            return tagged(onlyArgument(Kind::List), Elem::Bool);
        case Callable::TensorList:
            return tagged(onlyArgument(Kind::List), Elem::Tensor);
        case Callable::RestoreTypeTag:
            if (args.size() != 2 || m_nodes[args[1]].kind != Kind::String)
                break;
            return typeTag(args[0], string(args[1]));
        case Callable::StorageType:
        case Callable::TorchClass:
            break;
        }
        throw Refused("unexpected call of " + quote(string(callable)));
    }

    // BUILD: a module object takes its attributes from a dict state; an OrderedDict's state (a
    // state_dict's _metadata) is not needed.
    void build(Ref target, Ref state)
    {
        Node &t = m_nodes[target];
        if (t.kind == Kind::Dict)
            return;
        if (t.kind != Kind::Object)
            throw Malformed("malformed pickle (BUILD of a value that is no object)");
        if (m_nodes[state].kind != Kind::Dict)
            throw Refused("the object " + quote(m_strings[std::size_t(t.i)])
                + " carries a state that is not a dict of attributes (a class with "
                  "__setstate__?); refused, nothing was run");
        std::vector<Ref> items = m_nodes[state].items;
        m_nodes[target].items.clear();
        addItems(target, items);
    }

    const std::string &m_data;
    const StorageReader &m_read;
    std::size_t m_pos = 0;
    std::uint64_t m_budget;
    std::uint64_t m_used = 0;
    std::uint64_t m_storageBytes = 0;
    std::uint64_t m_cloneBytes = 0;
    std::deque<Node> m_nodes; // the arena: no reallocation, flat teardown
    std::vector<std::string> m_strings;
    std::vector<torch::Tensor> m_tensors;
    std::vector<Ref> m_stack;
    std::vector<std::size_t> m_marks;
    std::unordered_map<std::uint32_t, Ref> m_memo;
    std::map<std::string, Ref> m_storages;
    Ref m_smallInts[256] = {};
};

// The key of a dict or object item: a string of at most MaxKeyBytes.
const std::string &keyOf(const Unpickler &u, Ref key, const char *what)
{
    if (u.node(key).kind != Kind::String)
        throw Malformed(std::string(what) + " has a key that is not a string");
    const std::string &s = u.string(key);
    if (s.size() > MaxKeyBytes)
        throw Malformed(std::string(what) + " has a key of " + std::to_string(s.size())
            + " bytes (more than " + std::to_string(MaxKeyBytes) + "): " + quote(s));
    return s;
}

// An attribute name of a module archive: LeanTune's are identifiers, "param_groups/0" and
// TensorImpl addresses. Other names are refused, as OutputArchive prints them into the class
// definitions it generates (dunder names would meet TorchScript's own, __setstate__ included).
const std::string &attributeName(const Unpickler &u, Ref key)
{
    const std::string &s = keyOf(u, key, "an archive");
    if (s.empty() || s.compare(0, 2, "__") == 0
        || s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/")
            != std::string::npos)
        throw Refused("an attribute named " + quote(s) + ", which LeanTune's archives never hold");
    return s;
}

// Writes a module object's attributes into an OutputArchive. Depth and the values visited are
// bounded, so shared or cyclic references end in a refusal.
class ArchiveWriter {
public:
    explicit ArchiveWriter(const Unpickler &u)
        : m_u(u)
    {
    }

    void writeObject(Ref object, torch::serialize::OutputArchive &out, int depth)
    {
        visit(depth);
        const Node &n = m_u.node(object);
        for (std::size_t k = 0; k + 1 < n.items.size(); k += 2) {
            const std::string &key = attributeName(m_u, n.items[k]);
            const Ref value = n.items[k + 1];
            switch (m_u.node(value).kind) {
            case Kind::Tensor:
                out.write(key, m_u.tensor(value));
                break;
            case Kind::Object: {
                if (++m_archives > MaxArchives)
                    throw Malformed("the archive holds more than " + std::to_string(MaxArchives)
                        + " nested archives");
                torch::serialize::OutputArchive nested(out.compilation_unit());
                writeObject(value, nested, depth + 1);
                out.write(key, nested);
                break;
            }
            default:
                out.write(key, ivalue(value, depth + 1));
            }
        }
    }

private:
    void visit(int depth)
    {
        if (depth > MaxArchiveDepth)
            throw Malformed("the archive nests more than " + std::to_string(MaxArchiveDepth)
                + " levels deep (or refers to itself)");
        if (++m_visits > MaxValues)
            throw Malformed("the archive refers to its values more than "
                + std::to_string(MaxValues) + " times");
    }

    template <typename T> c10::List<T> list(const Node &n, int depth)
    {
        c10::List<T> out;
        for (const Ref item : n.items)
            out.push_back(ivalue(item, depth + 1).to<T>());
        return out;
    }
    template <typename T> c10::Dict<std::string, T> dict(const Node &n, int depth)
    {
        c10::Dict<std::string, T> out;
        for (std::size_t k = 0; k + 1 < n.items.size(); k += 2)
            out.insert_or_assign(
                keyOf(m_u, n.items[k], "a dict"), ivalue(n.items[k + 1], depth + 1).to<T>());
        return out;
    }

    c10::IValue ivalue(Ref r, int depth)
    {
        visit(depth);
        const Node &n = m_u.node(r);
        switch (n.kind) {
        case Kind::None:
            return {};
        case Kind::Bool:
            return n.i != 0;
        case Kind::Int:
            return n.i;
        case Kind::Float:
            return n.f;
        case Kind::String:
            return m_u.string(r);
        case Kind::Tensor:
            return m_u.tensor(r);
        case Kind::Tuple: {
            std::vector<c10::IValue> items;
            for (const Ref item : n.items)
                items.push_back(ivalue(item, depth + 1));
            return c10::ivalue::Tuple::create(std::move(items));
        }
        case Kind::List:
            switch (n.elem) {
            case Elem::Int:
                return list<std::int64_t>(n, depth);
            case Elem::Float:
                return list<double>(n, depth);
            case Elem::Bool:
                return list<bool>(n, depth);
            case Elem::String:
                return list<std::string>(n, depth);
            case Elem::Tensor:
                return list<at::Tensor>(n, depth);
            case Elem::Untagged:
                break;
            }
            throw Refused("a list without a TorchScript type tag, which LeanTune's archives "
                          "never hold");
        case Kind::Dict:
            switch (n.elem) {
            case Elem::Int:
                return dict<std::int64_t>(n, depth);
            case Elem::Float:
                return dict<double>(n, depth);
            case Elem::Bool:
                return dict<bool>(n, depth);
            case Elem::String:
                return dict<std::string>(n, depth);
            case Elem::Tensor:
                return dict<at::Tensor>(n, depth);
            case Elem::Untagged:
                break;
            }
            throw Refused("a dict without a TorchScript type tag, which LeanTune's archives "
                          "never hold");
        case Kind::Object:
            throw Refused("an object inside a list, tuple or dict, which LeanTune's archives "
                          "never hold");
        case Kind::Global:
        case Kind::Storage:
            break;
        }
        throw Malformed("malformed pickle (a bare global or storage as a value)");
    }

    const Unpickler &m_u;
    std::size_t m_visits = 0;
    std::size_t m_archives = 0;
};

// Runs WORK, turning what the unpickler and torch throw into false + *error.
template <typename Work> bool guarded(QString *error, Work &&work)
{
    const auto fail = [error](const QString &message) {
        if (error)
            *error = message;
        return false;
    };
    try {
        return work();
    } catch (const Refused &e) {
        return fail(
            QStringLiteral("unsafe or unsupported pickle: %1").arg(QString::fromUtf8(e.what())));
    } catch (const c10::Error &e) {
        return fail(QString::fromUtf8(e.what_without_backtrace())
                        .section(QLatin1Char('\n'), 0, 0)
                        .left(300));
    } catch (const std::bad_alloc &) {
        return fail(QStringLiteral("out of memory while reading the pickle"));
    } catch (const std::exception &e) {
        return fail(QString::fromUtf8(e.what()));
    }
}

} // namespace

std::optional<NamedTensors> unpickleStateDict(
    const std::string &pickle, const StorageReader &read, QString *error)
{
    NamedTensors out;
    const bool ok = guarded(error, [&] {
        Unpickler u(pickle, read);
        const Ref root = u.run();
        if (u.node(root).kind != Kind::Dict)
            throw Malformed("the file holds no state_dict (a dict of tensors)");
        const std::vector<Ref> &items = u.node(root).items;
        for (std::size_t k = 0; k + 1 < items.size(); k += 2) {
            const std::string &key = keyOf(u, items[k], "the state_dict");
            if (u.node(items[k + 1]).kind != Kind::Tensor)
                throw Malformed("state_dict entry " + quote(key)
                    + " is not a tensor (a whole model saved? save model.state_dict() instead)");
            out.emplace_back(key, u.tensor(items[k + 1]));
        }
        return true;
    });
    if (!ok)
        return std::nullopt;
    return out;
}

bool unpickleModuleArchive(const std::string &pickle, const StorageReader &read,
    torch::serialize::OutputArchive &out, QString *error)
{
    return guarded(error, [&] {
        Unpickler u(pickle, read);
        const Ref root = u.run();
        if (u.node(root).kind != Kind::Object)
            throw Malformed("the archive holds no module object (not written by LeanTune?)");
        ArchiveWriter(u).writeObject(root, out, 0);
        return true;
    });
}

} // namespace leantune
