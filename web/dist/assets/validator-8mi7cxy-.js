import{c1 as i}from"./index-DEuq79qJ.js";const n=o=>["",...i].includes(o);export{n as i};
